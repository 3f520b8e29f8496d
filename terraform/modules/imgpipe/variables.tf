################################################################################
# Naming
################################################################################

variable "name" {
  description = "Name of the deployment (e.g. imgpipe-prod): the function, its role, repository, queue, topic, alarms and dashboard, and the prefix of the bucket names (`<name>-source-<account id>`). 3-32 lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3-32 lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen (bucket names add 24 characters and must stay within 63)."
  }
}

variable "tags" {
  description = "Tags added to every resource that takes them, on top of the provider's default_tags. Up to 40 keys."
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    condition     = length(var.tags) <= 40
    error_message = "tags may hold at most 40 keys (AWS allows 50 per resource; default_tags need the rest)."
  }
}

################################################################################
# Image
################################################################################

variable "image_digests" {
  description = "Digests (`sha256:` and 64 hex digits) of the images in this module's ECR repository, keyed by Lambda architecture (`arm64`, `x86_64`). The function runs the digest for var.architectures, so passing both lets you switch architecture without a rebuild. May be empty only for the first, targeted apply that creates the repository."
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    condition     = alltrue([for arch in keys(var.image_digests) : contains(["arm64", "x86_64"], arch)])
    error_message = "image_digests keys must be Lambda architectures: arm64 or x86_64."
  }

  validation {
    condition     = alltrue([for digest in values(var.image_digests) : can(regex("^sha256:[0-9a-f]{64}$", digest))])
    error_message = "image_digests values must be image digests: sha256: followed by 64 lowercase hex digits."
  }
}

variable "architectures" {
  description = "The function's instruction set, as a one-element list: [\"arm64\"] (Graviton, the default: cheaper per GB-second) or [\"x86_64\"]. The image platform follows from it (output image_platform: linux/arm64 or linux/amd64)."
  type        = list(string)
  default     = ["arm64"]
  nullable    = false

  validation {
    condition     = length(var.architectures) == 1 && contains(["arm64", "x86_64"], var.architectures[0])
    error_message = "architectures must be [\"arm64\"] or [\"x86_64\"]: Lambda runs one architecture per function."
  }
}

variable "ecr_max_image_count" {
  description = "Images the ECR repository keeps; older ones expire (4-10000). A release pushes two (one per architecture), and a version's image must still exist for Lambda to roll back to it."
  type        = number
  default     = 60
  nullable    = false

  validation {
    condition     = floor(var.ecr_max_image_count) == var.ecr_max_image_count && var.ecr_max_image_count >= 4 && var.ecr_max_image_count <= 10000
    error_message = "ecr_max_image_count must be a whole number between 4 and 10000."
  }
}

variable "ecr_force_delete" {
  description = "Whether `terraform destroy` may delete the repository while it holds images (true or false)."
  type        = bool
  default     = false
  nullable    = false
}

variable "ecr_pull_account_ids" {
  description = "Other AWS accounts (12-digit IDs) allowed to pull from this repository, e.g. the staging and production accounts copying a build from dev by digest. Empty for none."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for id in var.ecr_pull_account_ids : can(regex("^[0-9]{12}$", id))])
    error_message = "ecr_pull_account_ids must be 12-digit AWS account IDs."
  }
}

################################################################################
# Function
################################################################################

variable "memory_size" {
  description = "Memory of the function in MB (512-10240); CPU grows with it (one vCPU at 1769 MB). Written by the memory sweep into the tuning file. Below 512 the encoder's 350 MiB baseline leaves no room for an image (the function stops its init)."
  type        = number
  nullable    = false

  validation {
    condition     = floor(var.memory_size) == var.memory_size && var.memory_size >= 512 && var.memory_size <= 10240
    error_message = "memory_size must be a whole number of MB between 512 and 10240: below 512 the encoder's 350 MiB baseline leaves no room for an image."
  }
}

variable "timeout" {
  description = "Timeout of one invocation in seconds (1-900). Written by the memory sweep into the tuning file; the p99 duration alarm fires at alarm_duration_percent_of_timeout of it."
  type        = number
  nullable    = false

  validation {
    condition     = floor(var.timeout) == var.timeout && var.timeout >= 1 && var.timeout <= 900
    error_message = "timeout must be a whole number of seconds between 1 and 900."
  }
}

variable "provisioned_concurrent_executions" {
  description = "Pre-initialised execution environments on the live version (0-10000; 0 for none, billed per hour otherwise). Written by the memory sweep into the tuning file."
  type        = number
  default     = 0
  nullable    = false

  validation {
    condition     = floor(var.provisioned_concurrent_executions) == var.provisioned_concurrent_executions && var.provisioned_concurrent_executions >= 0 && var.provisioned_concurrent_executions <= 10000
    error_message = "provisioned_concurrent_executions must be a whole number between 0 and 10000."
  }
}

variable "reserved_concurrent_executions" {
  description = "Concurrency reserved for (and capped at) this function: -1 for none (the default, shares the account's pool), 0 stops all invocations, 1-10000 reserves that many. With provisioned concurrency it must be at least twice provisioned_concurrent_executions, since old and new versions are both warm while the alias moves."
  type        = number
  default     = -1
  nullable    = false

  validation {
    condition     = floor(var.reserved_concurrent_executions) == var.reserved_concurrent_executions && var.reserved_concurrent_executions >= -1 && var.reserved_concurrent_executions <= 10000
    error_message = "reserved_concurrent_executions must be -1 (no reservation) or a whole number between 0 and 10000."
  }

  validation {
    condition     = var.reserved_concurrent_executions == -1 || var.provisioned_concurrent_executions == 0 || var.reserved_concurrent_executions >= 2 * var.provisioned_concurrent_executions
    error_message = "reserved_concurrent_executions must be -1 or at least twice provisioned_concurrent_executions: during a release both the old and the new version hold provisioned concurrency."
  }
}

variable "ephemeral_storage_size" {
  description = "Size of /tmp in MB (512-10240). The pipeline works in memory, so 512 is enough."
  type        = number
  default     = 512
  nullable    = false

  validation {
    condition     = floor(var.ephemeral_storage_size) == var.ephemeral_storage_size && var.ephemeral_storage_size >= 512 && var.ephemeral_storage_size <= 10240
    error_message = "ephemeral_storage_size must be a whole number of MB between 512 and 10240."
  }
}

variable "max_input_pixels" {
  description = "Largest width x height the function accepts (IMGPIPE_MAX_PIXELS, 1-1000000000), checked from the header before decoding. Written by the memory sweep, which derives it from memory_size."
  type        = number
  nullable    = false

  validation {
    condition     = floor(var.max_input_pixels) == var.max_input_pixels && var.max_input_pixels >= 1 && var.max_input_pixels <= 1000000000
    error_message = "max_input_pixels must be a whole number between 1 and 1000000000."
  }
}

variable "pipeline_config" {
  description = "The pipeline document (variants, formats, encoder settings; see the README) as a JSON object string, passed as IMGPIPE_CONFIG; the function validates it at cold start. null uses the built-in defaults. Not outputPrefix or limits.maxPixels: output_prefix and max_input_pixels set them. At most 3000 characters, and less when its quotes are many: Lambda limits each function's environment to 4 KB, measured as the variables' JSON, where every quote and backslash of the document counts twice, and the plan refuses a function of the deployment (this module's, modules/api's, modules/transform's, modules/workflow's tasks) whose environment is over it, naming its size; a larger document goes in Parameter Store (pipeline_config_parameter_name)."
  type        = string
  default     = null

  validation {
    condition     = var.pipeline_config == null || can(keys(jsondecode(var.pipeline_config)))
    error_message = "pipeline_config must be null or a JSON object, e.g. jsonencode({ variants = [{ name = \"thumb\", width = 320 }] })."
  }

  validation {
    condition     = try(length(var.pipeline_config) <= 3000, true)
    error_message = "pipeline_config must be at most 3000 characters: Lambda's environment variables share 4 KB."
  }

  # The function's environment sets both, and a variable overrides the document's value
  # (src/config/index.ts): in the document they would be ignored without a word.
  validation {
    condition     = var.pipeline_config == null ? true : try(jsondecode(var.pipeline_config).outputPrefix, null) == null && try(jsondecode(var.pipeline_config).limits.maxPixels, null) == null
    error_message = "pipeline_config must not set outputPrefix or limits.maxPixels: the function's IMGPIPE_OUTPUT_PREFIX (output_prefix, of which the role's grants are made) and IMGPIPE_MAX_PIXELS (max_input_pixels, which the memory sweep writes) override them. Set those variables instead."
  }
}

variable "pipeline_config_parameter_name" {
  description = "Name of an existing SSM Parameter Store parameter holding the pipeline document (a String, or a SecureString encrypted with this module's key, output kms_key_arn), passed as IMGPIPE_CONFIG_PARAMETER: the function may read that one parameter, once per container, and validates it like pipeline_config (whose outputPrefix and limits.maxPixels output_prefix and max_input_pixels override). Promoting a configuration between environments is then copying a parameter value, and the document may exceed the 4 KB environment (a standard parameter holds 4 KB, an advanced one 8 KB). null (the default) for none; not together with pipeline_config. 1-900 characters: letters, digits, `_`, `.` and `-`, in `/`-separated levels when it starts with `/` (e.g. /imgpipe/prod/pipeline), not starting with aws or ssm."
  type        = string
  default     = null

  validation {
    condition     = var.pipeline_config_parameter_name == null || can(regex("^(/[A-Za-z0-9_.-]+)+$|^[A-Za-z0-9_.-]+$", coalesce(var.pipeline_config_parameter_name, "x")))
    error_message = "pipeline_config_parameter_name must be null or a Parameter Store name: letters, digits, _ . - in /-separated levels starting with / (e.g. /imgpipe/prod/pipeline), or one level without /."
  }

  validation {
    condition     = try(length(var.pipeline_config_parameter_name) <= 900 && !can(regex("^/?(?i:aws|ssm)", var.pipeline_config_parameter_name)), true)
    error_message = "pipeline_config_parameter_name must be at most 900 characters and must not start with aws or ssm (Parameter Store reserves them)."
  }

  validation {
    condition     = var.pipeline_config_parameter_name == null || var.pipeline_config == null
    error_message = "pipeline_config and pipeline_config_parameter_name are mutually exclusive (IMGPIPE_CONFIG and IMGPIPE_CONFIG_PARAMETER): set one of them."
  }
}

variable "delete_outputs" {
  description = "Whether deleting a source object deletes its outputs and manifest too (IMGPIPE_DELETE_OUTPUTS, true or false; default true), so a deleted upload leaves no outputs published; its earlier versions stay in the source bucket for source_noncurrent_version_expiration_days and a quarantine copy of it, with its reason record, for quarantine_expiration_days. The source bucket sends s3:ObjectRemoved:* events to the function either way: the status table and the Image Deleted event record deletions."
  type        = bool
  default     = true
  nullable    = false
}

variable "tracing_enabled" {
  description = "Whether both functions trace with AWS X-Ray (true, the default: tracing mode Active, and Powertools Tracer on through POWERTOOLS_TRACE_ENABLED) or not (false: mode PassThrough, Tracer off). X-Ray bills per trace recorded (5% of requests after the first each second by default). With tracing on the function loads the X-Ray SDK, whose async hooks cost every promise: the on-demand transform miss measured 17-24% slower with it loaded (bench/README.md)."
  type        = bool
  default     = true
  nullable    = false
}

variable "output_prefix" {
  description = "Prefix of every output and manifest key (IMGPIPE_OUTPUT_PREFIX): empty (the default) or up to 256 characters ending in `/`, without a leading `/`, `*` or `?` (wildcards in the grants made of it). The function's write access to the output bucket is limited to it."
  type        = string
  default     = ""
  nullable    = false

  validation {
    condition     = var.output_prefix == "" || (can(regex("^[^*?]{1,256}$", var.output_prefix)) && endswith(var.output_prefix, "/") && alltrue([for s in split("/", trimsuffix(var.output_prefix, "/")) : s != "" && s != "." && s != ".."]))
    error_message = "output_prefix must be empty or up to 256 characters ending in /, with no empty (a leading / or //), . or .. segment, as the function's IMGPIPE_OUTPUT_PREFIX check requires, and no * or ?: the role's grants are <output_prefix>*, where they are wildcards (\"*/\" would reach every key with a /)."
  }
}

variable "environment_variables" {
  description = "Further environment variables for the function, e.g. { IMGPIPE_MAX_BYTES = \"67108864\" } (every variable: src/config/README.md). Must not set the variables the module manages: IMGPIPE_OUTPUT_BUCKET, IMGPIPE_OUTPUT_PREFIX, IMGPIPE_QUARANTINE_BUCKET, IMGPIPE_QUARANTINE_PREFIX, IMGPIPE_MAX_PIXELS, IMGPIPE_CONFIG, IMGPIPE_CONFIG_FILE, IMGPIPE_CONFIG_PARAMETER, IMGPIPE_SOURCE_BUCKETS, IMGPIPE_STATUS_TABLE, IMGPIPE_EVENT_BUS, IMGPIPE_DELETE_OUTPUTS, POWERTOOLS_SERVICE_NAME, POWERTOOLS_METRICS_NAMESPACE, POWERTOOLS_METRICS_FUNCTION_NAME, POWERTOOLS_LOG_LEVEL, POWERTOOLS_TRACE_ENABLED. Up to 20 variables."
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    condition = length(setintersection(keys(var.environment_variables), [
      "IMGPIPE_OUTPUT_BUCKET", "IMGPIPE_OUTPUT_PREFIX", "IMGPIPE_QUARANTINE_BUCKET", "IMGPIPE_QUARANTINE_PREFIX",
      "IMGPIPE_MAX_PIXELS", "IMGPIPE_CONFIG", "IMGPIPE_CONFIG_FILE", "IMGPIPE_CONFIG_PARAMETER",
      "IMGPIPE_SOURCE_BUCKETS", "IMGPIPE_STATUS_TABLE", "IMGPIPE_EVENT_BUS", "IMGPIPE_DELETE_OUTPUTS", "POWERTOOLS_SERVICE_NAME",
      "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_METRICS_FUNCTION_NAME", "POWERTOOLS_LOG_LEVEL",
      "POWERTOOLS_TRACE_ENABLED",
    ])) == 0
    error_message = "environment_variables must not set a variable the module manages (buckets, prefixes, IMGPIPE_MAX_PIXELS, IMGPIPE_CONFIG/IMGPIPE_CONFIG_FILE/IMGPIPE_CONFIG_PARAMETER, IMGPIPE_SOURCE_BUCKETS, IMGPIPE_STATUS_TABLE, IMGPIPE_EVENT_BUS, IMGPIPE_DELETE_OUTPUTS, POWERTOOLS_*): use the module's own variables."
  }

  validation {
    condition     = length(var.environment_variables) <= 20 && alltrue([for key in keys(var.environment_variables) : can(regex("^[A-Za-z][A-Za-z0-9_]*$", key))])
    error_message = "environment_variables may hold at most 20 variables, named with letters, digits and underscores, starting with a letter."
  }
}

variable "service_name" {
  description = "Service name in logs and metrics (POWERTOOLS_SERVICE_NAME, the `service` dimension of the EMF metrics, which the alarms and the dashboard select): 1-64 letters, digits, `_`, `.` and `-`. Default (null): the deployment's `name`, so that deployments sharing an account, region and `metrics_namespace` keep their metrics and alarms apart."
  type        = string
  default     = null

  validation {
    condition     = var.service_name == null || can(regex("^[A-Za-z0-9_.-]{1,64}$", var.service_name))
    error_message = "service_name must be 1-64 letters, digits, underscores, dots and hyphens."
  }
}

variable "metrics_namespace" {
  description = "CloudWatch namespace of the EMF metrics (POWERTOOLS_METRICS_NAMESPACE): 1-255 letters, digits and `.-_/#:`, not starting with `AWS/`."
  type        = string
  default     = "imgpipe"
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9.\\-_/#:]{1,255}$", var.metrics_namespace)) && !startswith(var.metrics_namespace, "AWS/")
    error_message = "metrics_namespace must be 1-255 letters, digits and .-_/#: characters and must not start with AWS/."
  }
}

variable "log_level" {
  description = "Application log level (POWERTOOLS_LOG_LEVEL): one of DEBUG, INFO (the default), WARN or ERROR. Lambda's own application log filter stays at INFO (DEBUG with DEBUG), since it counts the EMF metric lines, which have no level, as INFO."
  type        = string
  default     = "INFO"
  nullable    = false

  validation {
    condition     = contains(["DEBUG", "INFO", "WARN", "ERROR"], var.log_level)
    error_message = "log_level must be DEBUG, INFO, WARN or ERROR."
  }
}

variable "log_retention_in_days" {
  description = "Days CloudWatch keeps the function's logs: one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_in_days)
    error_message = "log_retention_in_days must be one of CloudWatch's retention periods: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

variable "role_permissions_boundary" {
  description = "ARN of an IAM policy to set as the permissions boundary of the function's role (the bootstrap's deploy role may only create roles with it). null for none."
  type        = string
  default     = null

  validation {
    condition     = var.role_permissions_boundary == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:policy/.+$", var.role_permissions_boundary))
    error_message = "role_permissions_boundary must be null or an IAM policy ARN (arn:aws:iam::<account>:policy/<name>)."
  }
}

variable "kms_key_administrator_arns" {
  description = "IAM roles or users (ARNs, up to 10) named in the key policy as administrators and users of the key, besides the account's IAM policies: typically the deploy role that runs Terraform. They must exist. Empty for none."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = length(var.kms_key_administrator_arns) <= 10 && alltrue([for arn in var.kms_key_administrator_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/.+$", arn))])
    error_message = "kms_key_administrator_arns must hold at most 10 IAM role or user ARNs."
  }
}

variable "kms_key_rotation_period_in_days" {
  description = "Days between automatic rotations of the KMS key (90-2560)."
  type        = number
  default     = 365
  nullable    = false

  validation {
    condition     = floor(var.kms_key_rotation_period_in_days) == var.kms_key_rotation_period_in_days && var.kms_key_rotation_period_in_days >= 90 && var.kms_key_rotation_period_in_days <= 2560
    error_message = "kms_key_rotation_period_in_days must be a whole number between 90 and 2560."
  }
}

variable "kms_key_deletion_window_in_days" {
  description = "Days a scheduled deletion of the KMS key can still be cancelled (7-30). Everything encrypted with it is lost once it is deleted."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = floor(var.kms_key_deletion_window_in_days) == var.kms_key_deletion_window_in_days && var.kms_key_deletion_window_in_days >= 7 && var.kms_key_deletion_window_in_days <= 30
    error_message = "kms_key_deletion_window_in_days must be a whole number between 7 and 30."
  }
}

################################################################################
# Deployment mode
################################################################################

variable "source_events_to_eventbridge" {
  description = "Whether the source bucket sends its events to Amazon EventBridge (the workflow mode: a rule of the workflow module starts a state machine per upload) instead of invoking this function (the direct mode, false). The function and its alias exist either way (true or false)."
  type        = bool
  default     = false
  nullable    = false
}

################################################################################
# Status table, outcome events and image alerts
################################################################################

variable "create_status_table" {
  description = "Whether to create the status table `<name>-status` (DynamoDB, on-demand, point-in-time recovery, encrypted with this module's key): one item per source object with its processing status, passed to both functions as IMGPIPE_STATUS_TABLE (true, the default, or false: no status writes)."
  type        = bool
  default     = true
  nullable    = false
}

variable "status_table_deletion_protection" {
  description = "Whether DynamoDB refuses to delete the status table (true or false; default true). Set false, and apply, before destroying a deployment whose status history does not matter."
  type        = bool
  default     = true
  nullable    = false
}

variable "event_bus_name" {
  description = "EventBridge bus the functions put their outcome events on (IMGPIPE_EVENT_BUS; source imgpipe, detail-types Image Processed, Image Quarantined, Image Failed, Image Deleted). null (the default) creates a bus named like the deployment (`<name>`); otherwise the name of an existing bus in this account and region, e.g. default: 1-256 letters, digits, `.`, `-`, `_` and `/`, not an ARN. The image alerts rule is created on it either way."
  type        = string
  default     = null

  validation {
    condition     = var.event_bus_name == null || can(regex("^[A-Za-z0-9._/-]{1,256}$", coalesce(var.event_bus_name, "x")))
    error_message = "event_bus_name must be null (the module creates a bus) or the name of an existing bus, e.g. default: 1-256 letters, digits, . - _ and /, not an ARN."
  }
}

variable "image_alert_email" {
  description = "E-mail address subscribed to the image alerts topic (`<name>-image-alerts`), which receives every Image Quarantined and Image Failed event within seconds; AWS sends a confirmation link first. Usually the people who look at rejected uploads, not the operators on alarm_email. null for none."
  type        = string
  default     = null

  validation {
    condition     = var.image_alert_email == null || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", coalesce(var.image_alert_email, "x")))
    error_message = "image_alert_email must be null or an e-mail address."
  }
}

################################################################################
# Releases (blue/green through the `live` alias)
################################################################################

variable "release_deployment_config" {
  description = "CodeDeploy's predefined configuration that shifts the `live` alias to a new version: CodeDeployDefault.LambdaAllAtOnce, LambdaCanary10Percent5Minutes, 10Minutes, 15Minutes or 30Minutes, or LambdaLinear10PercentEvery1Minute, 2Minutes, 3Minutes or 10Minutes. The hooks and alarms apply to all of them; canary and linear ones watch the alarms while part of the traffic is on the new version."
  type        = string
  default     = "CodeDeployDefault.LambdaCanary10Percent10Minutes"
  nullable    = false

  validation {
    condition     = contains(["CodeDeployDefault.LambdaAllAtOnce", "CodeDeployDefault.LambdaCanary10Percent5Minutes", "CodeDeployDefault.LambdaCanary10Percent10Minutes", "CodeDeployDefault.LambdaCanary10Percent15Minutes", "CodeDeployDefault.LambdaCanary10Percent30Minutes", "CodeDeployDefault.LambdaLinear10PercentEvery1Minute", "CodeDeployDefault.LambdaLinear10PercentEvery2Minutes", "CodeDeployDefault.LambdaLinear10PercentEvery3Minutes", "CodeDeployDefault.LambdaLinear10PercentEvery10Minutes"], var.release_deployment_config)
    error_message = "release_deployment_config must be one of CodeDeploy's predefined Lambda configurations (CodeDeployDefault.LambdaAllAtOnce, ...Canary10Percent{5,10,15,30}Minutes, ...Linear10PercentEvery{1Minute,2Minutes,3Minutes,10Minutes})."
  }
}

################################################################################
# Buckets and notifications
################################################################################

variable "source_notification_filters" {
  description = "Which new objects in the source bucket invoke the function: 1-20 filters of { prefix, suffix } (each optional, \"\" matches everything; no two may overlap: S3 refuses two where one prefix starts the other and one suffix ends the other). The default, one empty filter, sends every upload: the function identifies formats from their bytes and quarantines what it cannot process, so narrowing by suffix also skips that."
  type = list(object({
    prefix = optional(string, "")
    suffix = optional(string, "")
  }))
  default  = [{}]
  nullable = false

  validation {
    condition     = length(var.source_notification_filters) >= 1 && length(var.source_notification_filters) <= 20
    error_message = "source_notification_filters must hold between 1 and 20 filters."
  }

  validation {
    condition     = length(distinct(var.source_notification_filters)) == length(var.source_notification_filters)
    error_message = "source_notification_filters must not repeat a filter."
  }

  validation {
    condition     = alltrue([for f in var.source_notification_filters : length(f.prefix) <= 1024 && length(f.suffix) <= 1024])
    error_message = "Filter prefixes and suffixes must be at most 1024 characters."
  }

  # S3 refuses a notification configuration in which two filters of the same events overlap: one
  # prefix starts the other and one suffix ends the other ("" overlaps everything). Refused at plan,
  # naming the pair, instead of by S3 halfway through an apply.
  validation {
    condition = alltrue(flatten([for i, a in var.source_notification_filters : [
      for j, b in var.source_notification_filters : j <= i || !(
        (startswith(a.prefix, b.prefix) || startswith(b.prefix, a.prefix)) && (endswith(a.suffix, b.suffix) || endswith(b.suffix, a.suffix))
      )
    ]]))
    error_message = "source_notification_filters must not overlap (S3 refuses two filters where one prefix starts the other and one suffix ends the other; \"\" overlaps everything): ${join("; ", flatten([for i, a in var.source_notification_filters : [
      for j, b in var.source_notification_filters : "${jsonencode(a)} overlaps ${jsonencode(b)}" if j > i && (startswith(a.prefix, b.prefix) || startswith(b.prefix, a.prefix)) && (endswith(a.suffix, b.suffix) || endswith(b.suffix, a.suffix))
    ]]))}."
  }
}

variable "s3_force_destroy" {
  description = "Whether `terraform destroy` may delete the buckets while they hold objects (true or false). Keep false where the data matters."
  type        = bool
  default     = false
  nullable    = false
}

variable "source_noncurrent_version_expiration_days" {
  description = "Days an overwritten or deleted source object's old version is kept before it expires (1-3650)."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = floor(var.source_noncurrent_version_expiration_days) == var.source_noncurrent_version_expiration_days && var.source_noncurrent_version_expiration_days >= 1 && var.source_noncurrent_version_expiration_days <= 3650
    error_message = "source_noncurrent_version_expiration_days must be a whole number between 1 and 3650."
  }
}

variable "abort_incomplete_multipart_upload_days" {
  description = "Days after which an unfinished multipart upload is aborted and its parts deleted, in every bucket (1-365)."
  type        = number
  default     = 7
  nullable    = false

  validation {
    condition     = floor(var.abort_incomplete_multipart_upload_days) == var.abort_incomplete_multipart_upload_days && var.abort_incomplete_multipart_upload_days >= 1 && var.abort_incomplete_multipart_upload_days <= 365
    error_message = "abort_incomplete_multipart_upload_days must be a whole number between 1 and 365."
  }
}

variable "quarantine_expiration_days" {
  description = "Days a quarantined object and its reason record are kept (1-3650)."
  type        = number
  default     = 90
  nullable    = false

  validation {
    condition     = floor(var.quarantine_expiration_days) == var.quarantine_expiration_days && var.quarantine_expiration_days >= 1 && var.quarantine_expiration_days <= 3650
    error_message = "quarantine_expiration_days must be a whole number between 1 and 3650."
  }
}

variable "output_transition_to_ia_days" {
  description = "Days after which outputs move to S3 Standard-Infrequent Access (30-3650), or null to keep them in Standard. S3 skips objects under 128 KB, which many thumbnails are."
  type        = number
  default     = 90

  validation {
    condition     = var.output_transition_to_ia_days == null || try(floor(var.output_transition_to_ia_days) == var.output_transition_to_ia_days && var.output_transition_to_ia_days >= 30 && var.output_transition_to_ia_days <= 3650, false)
    error_message = "output_transition_to_ia_days must be null or a whole number between 30 and 3650."
  }
}

################################################################################
# Asynchronous invocation
################################################################################

variable "maximum_retry_attempts" {
  description = "Retries after a failed asynchronous invocation (0-2). An invocation fails when one of its records does (storage errors, timeouts, a key too long for its outputs), so the event is retried and then sent to the dead-letter queue, to be redriven once the cause is fixed; bad input is quarantined instead."
  type        = number
  default     = 2
  nullable    = false

  validation {
    condition     = contains([0, 1, 2], var.maximum_retry_attempts)
    error_message = "maximum_retry_attempts must be 0, 1 or 2."
  }
}

variable "maximum_event_age_in_seconds" {
  description = "Longest an S3 event may wait, including retries and throttling, before it goes to the dead-letter queue (60-21600 seconds)."
  type        = number
  default     = 21600
  nullable    = false

  validation {
    condition     = floor(var.maximum_event_age_in_seconds) == var.maximum_event_age_in_seconds && var.maximum_event_age_in_seconds >= 60 && var.maximum_event_age_in_seconds <= 21600
    error_message = "maximum_event_age_in_seconds must be a whole number between 60 and 21600."
  }
}

variable "dead_letter_queue_message_retention_seconds" {
  description = "Seconds the dead-letter queue keeps a failed event (60-1209600, i.e. up to 14 days)."
  type        = number
  default     = 1209600
  nullable    = false

  validation {
    condition     = floor(var.dead_letter_queue_message_retention_seconds) == var.dead_letter_queue_message_retention_seconds && var.dead_letter_queue_message_retention_seconds >= 60 && var.dead_letter_queue_message_retention_seconds <= 1209600
    error_message = "dead_letter_queue_message_retention_seconds must be a whole number between 60 and 1209600."
  }
}

################################################################################
# Alarms and budget
################################################################################

variable "alarm_email" {
  description = "E-mail address subscribed to the alarm topic (alarms and budget notifications); AWS sends a confirmation link first. null for none."
  type        = string
  default     = null

  validation {
    condition     = var.alarm_email == null || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", coalesce(var.alarm_email, "x")))
    error_message = "alarm_email must be null or an e-mail address."
  }
}

variable "alarm_errors_threshold" {
  description = "Function errors per minute above which the errors alarm fires (0-1000000; 0 alarms on the first error)."
  type        = number
  default     = 0
  nullable    = false

  validation {
    condition     = floor(var.alarm_errors_threshold) == var.alarm_errors_threshold && var.alarm_errors_threshold >= 0 && var.alarm_errors_threshold <= 1000000
    error_message = "alarm_errors_threshold must be a whole number between 0 and 1000000."
  }
}

variable "alarm_duration_percent_of_timeout" {
  description = "The p99 duration alarms fire above this percentage of the timeout (10-100)."
  type        = number
  default     = 80
  nullable    = false

  validation {
    condition     = var.alarm_duration_percent_of_timeout >= 10 && var.alarm_duration_percent_of_timeout <= 100
    error_message = "alarm_duration_percent_of_timeout must be between 10 and 100."
  }
}

variable "alarm_async_event_age_seconds" {
  description = "Age in seconds above which the oldest waiting S3 event raises an alarm (between 1 and maximum_event_age_in_seconds - 1), well before it would go to the dead-letter queue."
  type        = number
  default     = 600
  nullable    = false

  validation {
    condition     = var.alarm_async_event_age_seconds >= 1 && var.alarm_async_event_age_seconds < var.maximum_event_age_in_seconds
    error_message = "alarm_async_event_age_seconds must be at least 1 and below maximum_event_age_in_seconds."
  }
}

variable "alarm_quarantine_ratio" {
  description = "Share of objects quarantined (quarantined / (processed + duplicate + quarantined + failed)) above which the quarantine-ratio alarms fire: function-wide over 5-minute periods, and for the new version during a release (0.01-1)."
  type        = number
  default     = 0.5
  nullable    = false

  validation {
    condition     = var.alarm_quarantine_ratio >= 0.01 && var.alarm_quarantine_ratio <= 1
    error_message = "alarm_quarantine_ratio must be between 0.01 and 1."
  }
}

variable "alarm_failure_ratio" {
  description = "Share of objects failed (after the function's own retries) above which the failure-ratio alarms fire, function-wide and for the new version (0.001-1)."
  type        = number
  default     = 0.05
  nullable    = false

  validation {
    condition     = var.alarm_failure_ratio >= 0.001 && var.alarm_failure_ratio <= 1
    error_message = "alarm_failure_ratio must be between 0.001 and 1."
  }
}

variable "alarm_ratio_min_objects" {
  description = "Objects a period must hold before a quarantine or failure ratio counts (1-10000): fewer count as 0, so one rejected upload in a quiet hour does not page."
  type        = number
  default     = 10
  nullable    = false

  validation {
    condition     = floor(var.alarm_ratio_min_objects) == var.alarm_ratio_min_objects && var.alarm_ratio_min_objects >= 1 && var.alarm_ratio_min_objects <= 10000
    error_message = "alarm_ratio_min_objects must be a whole number between 1 and 10000."
  }
}

variable "budget_monthly_limit_usd" {
  description = "Monthly cost budget in USD (0.01-1000000) with notifications to the alarm topic at 80% and 95% of actual spend and when the month's forecast exceeds it. null for no budget. Budgets cover the whole account unless budget_cost_filter_tag narrows them (terraform/deployment passes its Environment tag)."
  type        = number
  default     = null

  validation {
    condition     = var.budget_monthly_limit_usd == null || try(var.budget_monthly_limit_usd >= 0.01 && var.budget_monthly_limit_usd <= 1000000, false)
    error_message = "budget_monthly_limit_usd must be null or between 0.01 and 1000000."
  }
}

variable "budget_cost_filter_tag" {
  description = "Limit the budget to costs carrying this cost-allocation tag, e.g. { key = \"Environment\", value = \"prod\" } (the tag must be activated in Billing first). null counts the whole account."
  type = object({
    key   = string
    value = string
  })
  default = null

  validation {
    condition     = var.budget_cost_filter_tag == null || try(length(var.budget_cost_filter_tag.key) >= 1 && length(var.budget_cost_filter_tag.key) <= 128 && length(var.budget_cost_filter_tag.value) <= 256, false)
    error_message = "budget_cost_filter_tag must be null or a tag with a 1-128 character key and a value of at most 256 characters."
  }
}

variable "output_cloudfront_distribution_arn" {
  description = "ARN of the CloudFront distribution that serves the output bucket through origin access control (modules/transform cloudfront_distribution_arn), or null for none: the bucket policy lets it alone read objects and the key policy lets it alone decrypt them (aws:SourceArn equal to this ARN). Both policies are their own resources, applied once the distribution exists."
  type        = string
  default     = null

  validation {
    condition     = var.output_cloudfront_distribution_arn == null || can(regex("^arn:aws[a-z-]*:cloudfront::[0-9]{12}:distribution/[A-Z0-9]+$", var.output_cloudfront_distribution_arn))
    error_message = "output_cloudfront_distribution_arn must be null or a CloudFront distribution ARN (arn:aws:cloudfront::<account>:distribution/<id>)."
  }
}

variable "transform_results_prefix" {
  description = "Where on-demand transformation results are stored in the output bucket (modules/transform results_prefix), or null: objects under it expire after transform_results_expiration_days. Without * or ? (wildcards in the bucket policy and the grants made of it)."
  type        = string
  default     = null

  validation {
    condition     = var.transform_results_prefix == null ? true : can(regex("^[^*?]{1,256}$", var.transform_results_prefix)) && endswith(var.transform_results_prefix, "/") && alltrue([for s in split("/", trimsuffix(var.transform_results_prefix, "/")) : s != "" && s != "." && s != ".."])
    error_message = "transform_results_prefix must be null or a key prefix of up to 256 characters ending in /, with no empty (a leading / or //), . or .. segment, and no * or ?: the output bucket's policy lets the distribution read <transform_results_prefix>* and the roles delete there, where they are wildcards (\"*/\" would let the distribution read every output and manifest)."
  }
}

variable "transform_results_expiration_days" {
  description = "Days after which a stored transformation result expires (1-36500); one is made again on the next request. Longer than the transformation's max_age_seconds, which a redirect to a result may be cached for."
  type        = number
  default     = 365
  nullable    = false

  validation {
    condition     = floor(var.transform_results_expiration_days) == var.transform_results_expiration_days && var.transform_results_expiration_days >= 1 && var.transform_results_expiration_days <= 36500
    error_message = "transform_results_expiration_days must be a whole number from 1 to 36500."
  }
}

################################################################################
# Security options (both off by default)
################################################################################

variable "vpc" {
  description = "Run the functions in private subnets of a VPC of their own (vpc.tf): cidr_block (a /16 to /24, default 10.40.0.0/16; each subnet is a sixteenth of it) and availability_zones (2-3 names; default the region's first two). S3 and DynamoDB through gateway endpoints, the other services through interface endpoints, no NAT gateway, no inbound rule. null (the default): no VPC."
  type = object({
    cidr_block         = optional(string, "10.40.0.0/16")
    availability_zones = optional(list(string))
  })
  default = null

  validation {
    condition     = var.vpc == null ? true : try(can(cidrhost(var.vpc.cidr_block, 0)) && tonumber(split("/", var.vpc.cidr_block)[1]) >= 16 && tonumber(split("/", var.vpc.cidr_block)[1]) <= 24, false)
    error_message = "vpc.cidr_block must be an IPv4 CIDR block from /16 to /24."
  }

  validation {
    condition     = var.vpc == null ? true : (var.vpc.availability_zones == null ? true : (length(var.vpc.availability_zones) >= 2 && length(var.vpc.availability_zones) <= 3))
    error_message = "vpc.availability_zones must name 2 or 3 availability zones, or be left out."
  }
}

variable "cloudtrail_enabled" {
  description = "Record the S3 data events of the source, output and quarantine buckets with a CloudTrail trail <name>-data-events, encrypted with the deployment's key, into the bucket <name>-trail-<account> (trail.tf). Data events are billed per event. Default false."
  type        = bool
  default     = false
  nullable    = false
}

variable "cloudtrail_retention_days" {
  description = "Days the trail's log files are kept (1-3650)."
  type        = number
  default     = 365
  nullable    = false

  validation {
    condition     = floor(var.cloudtrail_retention_days) == var.cloudtrail_retention_days && var.cloudtrail_retention_days >= 1 && var.cloudtrail_retention_days <= 3650
    error_message = "cloudtrail_retention_days must be a whole number between 1 and 3650."
  }
}
