# Values per environment live in ../envs/<environment>/terraform.tfvars.json (settings) and
# tuning.tfvars.json (written by the memory sweep), passed with -var-file; the deploy workflow adds
# image.tfvars.json and the release variables. A variable without a default must be set in every
# environment's files (a test checks it). The module validates every value; the ranges are
# repeated here for readers.

variable "environment" {
  description = "Name of the environment: dev, staging or prod, the folder under ../envs whose files set it. Names the deployment (imgpipe-<environment>) and the GitHub environment that deploys it."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be dev, staging or prod."
  }
}

variable "aws_account_id" {
  description = "The 12-digit AWS account this environment lives in; Terraform refuses to run with credentials for another account."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}$", var.aws_account_id)) && var.aws_account_id != "000000000000"
    error_message = "aws_account_id must be your 12-digit AWS account ID (replace the 000000000000 placeholder in terraform.tfvars.json)."
  }
}

variable "region" {
  description = "AWS region of the environment, e.g. eu-west-1."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as eu-west-1."
  }
}

variable "image_digests" {
  description = "Image digests (sha256:...) in this environment's ECR repository, keyed by architecture (arm64, x86_64). Passed by the deploy workflow; empty only for the first, targeted apply."
  type        = map(string)
  default     = {}
}

variable "architectures" {
  description = "The function's architecture: [\"arm64\"] or [\"x86_64\"]."
  type        = list(string)
  default     = ["arm64"]
}

variable "lambda_memory_size" {
  description = "Function memory in MB (512-10240). Tuning file."
  type        = number
}

variable "lambda_timeout" {
  description = "Function timeout in seconds (1-110: the workflow module, deployed in every mode, holds its Process task to 110 s, under the state's 120). Tuning file."
  type        = number
}

variable "lambda_provisioned_concurrency" {
  description = "Provisioned concurrency of the function that processes the uploads, on its newest version: the imgpipe function in the direct mode, the workflow's Process function in the workflow mode (0 for none, up to 10000). Tuning file."
  type        = number
}

variable "max_input_pixels" {
  description = "Largest width x height accepted (IMGPIPE_MAX_PIXELS, 1-1000000000). Tuning file."
  type        = number
}

variable "reserved_concurrent_executions" {
  description = "Reserved concurrency of the imgpipe function: -1 for none, else 0-10000 (in the direct mode at least twice the provisioned concurrency)."
  type        = number
  default     = -1
}

variable "pipeline_config" {
  description = "Pipeline document as a JSON object string (IMGPIPE_CONFIG), or null for the built-in defaults."
  type        = string
  default     = null
}

variable "pipeline_config_parameter_name" {
  description = "SSM parameter holding the pipeline document (IMGPIPE_CONFIG_PARAMETER), e.g. /imgpipe/<environment>/pipeline, or null. Not with pipeline_config. With the bootstrap's permissions boundary the function may read parameters under /imgpipe/ only, and none of another environment's /imgpipe/<environment>/."
  type        = string
  default     = null

  validation {
    condition     = var.pipeline_config_parameter_name == null || var.permissions_boundary_policy_name == "" || startswith(coalesce(var.pipeline_config_parameter_name, "x"), "/imgpipe/")
    error_message = "pipeline_config_parameter_name must start with /imgpipe/ (e.g. /imgpipe/prod/pipeline): the bootstrap's permissions boundary lets the function read no other parameter."
  }

  # The boundary denies another environment's /imgpipe/<environment>/ (in one shared account): the
  # apply would pass and every invocation fail to read its pipeline document.
  validation {
    condition = var.pipeline_config_parameter_name == null || var.permissions_boundary_policy_name == "" || !anytrue([
      for other in ["dev", "staging", "prod"] : other != var.environment && startswith(coalesce(var.pipeline_config_parameter_name, "x"), "/imgpipe/${other}/")
    ])
    error_message = "pipeline_config_parameter_name ${jsonencode(var.pipeline_config_parameter_name)} is another environment's parameter: the bootstrap's permissions boundary lets the ${var.environment} functions read /imgpipe/${var.environment}/ and no other environment's /imgpipe/<environment>/ (use e.g. /imgpipe/${var.environment}/pipeline)."
  }
}

variable "source_notification_filters" {
  description = "Which keys of the source bucket are processed: 1-20 filters of { prefix, suffix } (each optional, \"\" matches everything; no two may overlap, as S3 requires). A key is processed when it starts with one filter's prefix and ends with its suffix: in the direct mode S3's notifications, in the workflow mode the upload rule and Inspect, and in both modes bulk reprocessing hold to them. The default, one empty filter, takes every key."
  type = list(object({
    prefix = optional(string, "")
    suffix = optional(string, "")
  }))
  default  = [{}]
  nullable = false

  # The API puts uploads under its upload_prefix, keyed by the user's file name (any extension),
  # and waits for their outcome: a filter must take all of them, or those it leaves (every one, or
  # those of another suffix) stay pending for good.
  validation {
    condition     = !var.api.enabled || anytrue([for filter in var.source_notification_filters : startswith(var.api.upload_prefix, filter.prefix) && filter.suffix == ""])
    error_message = "source_notification_filters: no filter takes every API upload under ${jsonencode(var.api.upload_prefix)} (filters ${jsonencode(var.source_notification_filters)}): their keys keep the user's file name, so a filter with a suffix, or a prefix that does not start ${jsonencode(var.api.upload_prefix)}, would leave some pending for good; add { \"prefix\": ${jsonencode(var.api.upload_prefix)} } with no suffix."
  }
}

variable "delete_outputs" {
  description = "Whether deleting a source object deletes its outputs and manifest (IMGPIPE_DELETE_OUTPUTS)."
  type        = bool
  default     = true
}

variable "tracing_enabled" {
  description = "Whether both functions trace with X-Ray (Active) and Powertools Tracer is on."
  type        = bool
  default     = true
}

variable "log_level" {
  description = "Application log level: DEBUG, INFO, WARN or ERROR."
  type        = string
  default     = "INFO"
}

variable "log_retention_in_days" {
  description = "Days of log retention (one of CloudWatch's periods: 1, 3, 5, 7, 14, 30, 60, 90, ... 3653)."
  type        = number
  default     = 30
}

variable "permissions_boundary_policy_name" {
  description = "Name of the IAM policy every role of the deployment carries as permissions boundary (the deploy role can create roles only with it). null: the bootstrap's boundary of this environment, imgpipe-<environment>-function-boundary, which reaches this deployment's resources alone; \"\" for none."
  type        = string
  default     = null
}

variable "deploy_role_name" {
  description = "Name of the role that runs Terraform for this environment (the deploy workflows' role), named administrator of the KMS keys; it must exist, or KMS refuses the key policy. null: the bootstrap's deploy role of this environment, imgpipe-github-deploy-<environment>; \"\" names none."
  type        = string
  default     = null
}

variable "release_deployment_config" {
  description = "CodeDeploy configuration that shifts the live alias in a release (modules/imgpipe, release_deployment_config): e.g. CodeDeployDefault.LambdaAllAtOnce in dev, a canary in staging and prod."
  type        = string
  default     = "CodeDeployDefault.LambdaCanary10Percent10Minutes"
}

variable "create_status_table" {
  description = "Whether to deploy the status table imgpipe-<environment>-status (IMGPIPE_STATUS_TABLE)."
  type        = bool
  default     = true
}

variable "status_table_deletion_protection" {
  description = "Whether DynamoDB refuses to delete the status table: true in prod. Set false and apply before destroying an environment."
  type        = bool
  default     = false
}

variable "event_bus_name" {
  description = "Existing EventBridge bus for the outcome events, e.g. default; null creates imgpipe-<environment>."
  type        = string
  default     = null
}

variable "image_alert_email" {
  description = "E-mail address told of every quarantined or failed image (the image alerts topic), or null."
  type        = string
  default     = null
}

variable "ecr_pull_account_ids" {
  description = "Accounts (12-digit IDs) allowed to pull this environment's images, e.g. staging and prod pulling from dev."
  type        = list(string)
  default     = []
}

variable "force_destroy" {
  description = "Whether terraform destroy may delete non-empty buckets and the image repository (true only for throw-away environments)."
  type        = bool
  default     = false
}

variable "alarm_email" {
  description = "E-mail address for alarms and budget notifications, or null."
  type        = string
  default     = null
}

variable "budget_monthly_limit_usd" {
  description = "Monthly cost budget in USD (0.01-1000000), notified at 80% and 95%; null for none."
  type        = number
  default     = null
}

variable "api" {
  description = "The HTTP API, its sign-in and the web page (modules/api), off by default. enabled turns it on. Authentication: a Cognito user pool (create_cognito_user_pool, the default; it needs web_dir or an origin in cors_allowed_origins to send the browser back to), or jwt_issuer and jwt_audience of another OpenID Connect provider (with web_auth for the page); allow_anonymous = true deploys it open to anyone, and nothing else does. web_dir is the built page, relative to this folder (`npm run build:web` writes ../../dist-web); null publishes no page. The other keys are the module's variables of the same names."
  type = object({
    enabled                  = optional(bool, false)
    create_cognito_user_pool = optional(bool, true)
    jwt_issuer               = optional(string)
    jwt_audience             = optional(list(string), [])
    allow_anonymous          = optional(bool, false)
    cors_allowed_origins     = optional(list(string), [])
    cors_allow_credentials   = optional(bool, false)
    throttling_rate_limit    = optional(number, 50)
    throttling_burst_limit   = optional(number, 100)
    route_throttling = optional(map(object({
      rate_limit  = number
      burst_limit = number
    })), {})
    upload_prefix   = optional(string, "uploads/")
    cdn_url         = optional(string)
    domain_name     = optional(string)
    certificate_arn = optional(string)
    web_dir         = optional(string)
    web_auth = optional(object({
      authorize_url = string
      token_url     = string
      client_id     = string
      scope         = string
    }))
  })
  default  = {}
  nullable = false
}

variable "transform" {
  description = "On-demand transformations behind CloudFront (modules/transform), off by default. enabled turns it on; signing is \"required\" unless set to \"off\" (create the SecureString parameter with the keys yourself, output transform_signing_keys_parameter_name: Terraform does not manage it). The other keys are the module's variables of the same names."
  type = object({
    enabled              = optional(bool, false)
    memory_size          = optional(number, 2048)
    reserved_concurrency = optional(number, 20)
    sizes                = optional(list(number), [])
    size_step            = optional(number, 10)
    max_size             = optional(number, 4000)
    quality_min          = optional(number, 30)
    quality_max          = optional(number, 90)
    formats              = optional(list(string), ["avif", "webp", "jpeg", "png"])
    signing              = optional(string, "required")
    domain_name          = optional(string)
    certificate_arn      = optional(string)
    price_class          = optional(string, "PriceClass_100")
    cdn_max_ttl_seconds  = optional(number, 86400)
  })
  default  = {}
  nullable = false
}

variable "vpc" {
  description = "Optional VPC mode (modules/imgpipe, vpc): { cidr_block, availability_zones }, or null (the default) for none."
  type = object({
    cidr_block         = optional(string, "10.40.0.0/16")
    availability_zones = optional(list(string))
  })
  default = null
}

variable "cloudtrail_enabled" {
  description = "Record the buckets' S3 data events with a KMS-encrypted CloudTrail trail (modules/imgpipe, cloudtrail_enabled). Default false."
  type        = bool
  default     = false
}
