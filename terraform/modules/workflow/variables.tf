################################################################################
# Naming, image and the imgpipe module's resources
################################################################################

variable "name" {
  description = "Name of the deployment, as given to the imgpipe module (e.g. imgpipe-prod): every resource is named <name>-<purpose>. 1-40 characters: lowercase letters, digits and hyphens."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,39}$", var.name))
    error_message = "name must be 1-40 characters of lowercase letters, digits and hyphens, starting with a letter or digit."
  }
}

variable "image_uri" {
  description = "The function image the task functions run, by digest (the imgpipe module's lambda_function_image_uri)."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("@sha256:[0-9a-f]{64}$", var.image_uri))
    error_message = "image_uri must name the image by digest (<repository url>@sha256:<64 hex digits>)."
  }
}

variable "architectures" {
  description = "Instruction set of every function, as the imgpipe module's: [\"arm64\"] or [\"x86_64\"]."
  type        = list(string)
  default     = ["arm64"]
  nullable    = false

  validation {
    condition     = length(var.architectures) == 1 && contains(["arm64", "x86_64"], var.architectures[0])
    error_message = "architectures must be [\"arm64\"] or [\"x86_64\"]."
  }
}

variable "environment" {
  description = "Environment of the imgpipe function (its lambda_environment output): the task functions run the same pipeline on the same buckets."
  type        = map(string)
  nullable    = false

  validation {
    condition     = contains(keys(var.environment), "IMGPIPE_OUTPUT_BUCKET") && contains(keys(var.environment), "IMGPIPE_QUARANTINE_BUCKET")
    error_message = "environment must be the imgpipe module's lambda_environment (it sets IMGPIPE_OUTPUT_BUCKET and IMGPIPE_QUARANTINE_BUCKET)."
  }
}

variable "pipeline_policy_json" {
  description = "IAM policy document (JSON) of what running the pipeline needs (the imgpipe module's pipeline_policy_json): the roles of the tasks that make outputs or quarantine (Process, Quarantine, the reprocessing batch) are built on it."
  type        = string
  nullable    = false

  validation {
    condition     = can(jsondecode(var.pipeline_policy_json).Statement)
    error_message = "pipeline_policy_json must be an IAM policy document in JSON."
  }
}

variable "inspect_policy_json" {
  description = "IAM policy document (JSON) of what inspecting an upload needs (the imgpipe module's inspect_policy_json): the Inspect task's role is built on it."
  type        = string
  nullable    = false

  validation {
    condition     = can(jsondecode(var.inspect_policy_json).Statement)
    error_message = "inspect_policy_json must be an IAM policy document in JSON."
  }
}

variable "record_policy_json" {
  description = "IAM policy document (JSON) of what recording an outcome needs (the imgpipe module's record_policy_json): the RecordFailure task's role is built on it."
  type        = string
  nullable    = false

  validation {
    condition     = can(jsondecode(var.record_policy_json).Statement)
    error_message = "record_policy_json must be an IAM policy document in JSON."
  }
}

variable "kms_key_arn" {
  description = "ARN of the deployment's KMS key (the imgpipe module's kms_key_arn): it encrypts the buckets, the logs and the workflow bucket."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "source_bucket_name" {
  description = "Name of the source bucket (the imgpipe module's source_bucket_id): its Object Created events start the per-upload workflow, and bulk reprocessing lists it."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.source_bucket_name))
    error_message = "source_bucket_name must be an S3 bucket name."
  }
}

variable "source_notification_filters" {
  description = "Which keys of the source bucket start the per-upload workflow, as the imgpipe module's source_notification_filters: a map of { prefix, suffix } (empty strings match everything). An object matching any entry starts one execution; bulk reprocessing skips (counts as ignored) the keys no entry matches."
  type = map(object({
    prefix = optional(string, "")
    suffix = optional(string, "")
  }))
  default  = { all = {} }
  nullable = false

  validation {
    condition     = length(var.source_notification_filters) > 0
    error_message = "source_notification_filters needs at least one entry; { all = {} } matches every key."
  }
}

variable "role_permissions_boundary" {
  description = "ARN of the policy to set as the permissions boundary of every role this module creates, or null for none."
  type        = string
  default     = null

  validation {
    condition     = var.role_permissions_boundary == null || can(regex("^arn:aws[a-z-]*:iam::\\d{12}:policy/", var.role_permissions_boundary))
    error_message = "role_permissions_boundary must be an IAM policy ARN or null."
  }
}

variable "alarm_topic_arn" {
  description = "ARN of the topic the alarms notify (the imgpipe module's sns_topic_arn), or null for alarms without actions."
  type        = string
  default     = null

  validation {
    condition     = var.alarm_topic_arn == null || can(regex("^arn:aws[a-z-]*:sns:", var.alarm_topic_arn))
    error_message = "alarm_topic_arn must be an SNS topic ARN or null."
  }
}

variable "tags" {
  description = "Tags for every resource, merged with the provider's default_tags. Up to 50 keys."
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    condition     = length(var.tags) <= 50
    error_message = "tags may have at most 50 keys."
  }
}

################################################################################
# Functions
################################################################################

variable "memory_size" {
  description = "Memory of the task functions that decode images (Process, Moderate, the reprocessing batch) in MB (512-10240): the imgpipe function's tuned memory. Below 512 the encoder's 350 MiB baseline leaves no room for an image."
  type        = number
  default     = 3008
  nullable    = false

  validation {
    condition     = floor(var.memory_size) == var.memory_size && var.memory_size >= 512 && var.memory_size <= 10240
    error_message = "memory_size must be a whole number of MB between 512 and 10240: below 512 the encoder's 350 MiB baseline leaves no room for an image."
  }
}

variable "timeout" {
  description = "Timeout of the Process task function in seconds (1-110): the imgpipe function's tuned timeout. At most 110, under the Process state's own 120 s, so the function's timeout, not the state's, ends a run that is too long."
  type        = number
  default     = 60
  nullable    = false

  validation {
    condition     = floor(var.timeout) == var.timeout && var.timeout >= 1 && var.timeout <= 110
    error_message = "timeout must be a whole number of seconds between 1 and 110."
  }
}

variable "process_provisioned_concurrent_executions" {
  description = "Pre-initialised execution environments of the Process task function, on its newest published version, which the live alias is moved to (0-10000; 0 for none, billed per hour otherwise): the imgpipe function's tuned provisioned concurrency in the workflow mode. Only with upload_workflow_enabled."
  type        = number
  default     = 0
  nullable    = false

  validation {
    condition     = floor(var.process_provisioned_concurrent_executions) == var.process_provisioned_concurrent_executions && var.process_provisioned_concurrent_executions >= 0 && var.process_provisioned_concurrent_executions <= 10000
    error_message = "process_provisioned_concurrent_executions must be a whole number between 0 and 10000."
  }

  validation {
    condition     = var.upload_workflow_enabled || var.process_provisioned_concurrent_executions == 0
    error_message = "process_provisioned_concurrent_executions must be 0 without upload_workflow_enabled: the Process function exists only in the workflow mode (give the imgpipe module the provisioned concurrency in the direct mode)."
  }
}

variable "tracing_enabled" {
  description = "Whether the functions and state machines send X-Ray traces (true or false)."
  type        = bool
  default     = true
  nullable    = false
}

variable "log_level" {
  description = "Log level of the state machines' execution logs: ALL (every state's input and output: for debugging), ERROR (failed executions and states) or FATAL."
  type        = string
  default     = "ERROR"
  nullable    = false

  validation {
    condition     = contains(["ALL", "ERROR", "FATAL"], var.log_level)
    error_message = "log_level must be one of ALL, ERROR, FATAL."
  }
}

variable "log_retention_in_days" {
  description = "Retention of every log group of the module, in days: one of CloudWatch Logs' values (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_in_days)
    error_message = "log_retention_in_days must be one of CloudWatch Logs' retention values."
  }
}

################################################################################
# The per-upload workflow and its checks
################################################################################

variable "upload_workflow_enabled" {
  description = "Whether to create the per-upload workflow (the workflow mode: the EventBridge rule, the Express state machine, its task functions and the scanner). False keeps only bulk reprocessing (the direct mode) (true or false)."
  type        = bool
  default     = true
  nullable    = false
}

variable "malware_scan_enabled" {
  description = "Whether the per-upload workflow scans every upload with ClamAV (the scanner image, its ECR repository's images, the scheduled database update) (true or false)."
  type        = bool
  default     = true
  nullable    = false
}

variable "moderation_enabled" {
  description = "Whether the per-upload workflow sends a rendition of every image to Amazon Rekognition DetectModerationLabels (true or false)."
  type        = bool
  default     = true
  nullable    = false
}

variable "moderation_min_confidence" {
  description = "The least confidence (0-100) of a Rekognition moderation label that counts (IMGPIPE_MODERATION_MIN_CONFIDENCE)."
  type        = number
  default     = 80
  nullable    = false

  validation {
    condition     = floor(var.moderation_min_confidence) == var.moderation_min_confidence && var.moderation_min_confidence >= 0 && var.moderation_min_confidence <= 100
    error_message = "moderation_min_confidence must be a whole number between 0 and 100."
  }
}

variable "moderation_max_tiles" {
  description = "The most tiles (1-16) an image more than 2:1 is moderated in, each one Rekognition DetectModerationLabels call (up to three with transparency), of at most 2:1 overlapping by half: 8 cover up to 9:1. An image that needs more is quarantined as moderation, unmoderated (IMGPIPE_MODERATION_MAX_TILES)."
  type        = number
  default     = 8
  nullable    = false

  validation {
    condition     = floor(var.moderation_max_tiles) == var.moderation_max_tiles && var.moderation_max_tiles >= 1 && var.moderation_max_tiles <= 16
    error_message = "moderation_max_tiles must be a whole number between 1 and 16: each tile is one Rekognition call (up to three with transparency), and the Moderate task has 50 s for them all."
  }
}

variable "reprocess_max_concurrency" {
  description = "The most child executions (1-10000) a bulk reprocessing runs at once: its request's concurrency is refused above it (IMGPIPE_REPROCESS_MAX_CONCURRENCY of the plan function). Each is a Lambda invocation at a time (a batch, or one upload's run of the per-upload workflow, whose Process function is the live uploads' own), so keep it well under the account's Lambda concurrency (1000 by default), or the live pipeline is throttled."
  type        = number
  default     = 100
  nullable    = false

  validation {
    condition     = floor(var.reprocess_max_concurrency) == var.reprocess_max_concurrency && var.reprocess_max_concurrency >= 1 && var.reprocess_max_concurrency <= 10000
    error_message = "reprocess_max_concurrency must be a whole number between 1 and 10000 (a Distributed Map's MaxConcurrency)."
  }
}

variable "moderation_categories" {
  description = "Rekognition moderation label names, at any level of its taxonomy (\"Explicit\", \"Violence\"), that reject an image (IMGPIPE_MODERATION_CATEGORIES); empty: every label."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for name in var.moderation_categories : length(name) >= 1 && length(name) <= 128 && !strcontains(name, ",")])
    error_message = "moderation_categories must be label names of 1-128 characters without commas."
  }
}

variable "scanner_image_digests" {
  description = "Digests of the scanner image (scanner/Dockerfile) in this module's ECR repository, by architecture: { arm64 = \"sha256:...\" }. The scanner functions are created once the digest for var.architectures is given."
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    condition     = alltrue([for arch, digest in var.scanner_image_digests : contains(["arm64", "x86_64"], arch) && can(regex("^sha256:[0-9a-f]{64}$", digest))])
    error_message = "scanner_image_digests must map arm64 or x86_64 to sha256:<64 hex digits>."
  }
}

variable "ecr_pull_account_ids" {
  description = "Other AWS accounts (12-digit IDs) allowed to pull the scanner repository's images, as the function's (modules/imgpipe ecr_pull_account_ids): staging and prod accounts copy the dev builds by digest (deploy.yml). Empty for none."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for id in var.ecr_pull_account_ids : can(regex("^[0-9]{12}$", id))])
    error_message = "ecr_pull_account_ids must be 12-digit AWS account IDs."
  }
}

variable "scanner_memory_size" {
  description = "Memory of the scan function in MB (2048-10240). clamd holds ClamAV's official database in about 1.2 GiB (ClamAV's documentation), plus Node and the object, read whole: 3008 by default. With scanner_ephemeral_storage_size it bounds the largest object the scanner can scan; a larger one is quarantined as too-large (README.md, \"Sizing\")."
  type        = number
  default     = 3008
  nullable    = false

  validation {
    condition     = floor(var.scanner_memory_size) == var.scanner_memory_size && var.scanner_memory_size >= 2048 && var.scanner_memory_size <= 10240
    error_message = "scanner_memory_size must be a whole number of MB between 2048 and 10240."
  }
}

variable "scanner_ephemeral_storage_size" {
  description = "Ephemeral storage (/tmp) of the scan and update functions in MB (1024-10240): the signature database's copy (about 350 MB unpacked) and clamd's temporary files, the object being scanned among them (clamd writes the stream there before scanning it). With scanner_memory_size it bounds the largest object the scanner can scan; a larger one is quarantined as too-large (README.md, \"Sizing\")."
  type        = number
  default     = 2048
  nullable    = false

  validation {
    condition     = floor(var.scanner_ephemeral_storage_size) == var.scanner_ephemeral_storage_size && var.scanner_ephemeral_storage_size >= 1024 && var.scanner_ephemeral_storage_size <= 10240
    error_message = "scanner_ephemeral_storage_size must be a whole number of MB between 1024 and 10240: the database alone is about 350 MB, and the updater holds it twice while freshclam tests a new one."
  }
}

variable "scanner_update_memory_size" {
  description = "Memory of the database update function in MB (2048-10240): freshclam loads the new database once to test it before it is kept."
  type        = number
  default     = 2048
  nullable    = false

  validation {
    condition     = floor(var.scanner_update_memory_size) == var.scanner_update_memory_size && var.scanner_update_memory_size >= 2048 && var.scanner_update_memory_size <= 10240
    error_message = "scanner_update_memory_size must be a whole number of MB between 2048 and 10240."
  }
}

variable "signature_update_schedule" {
  description = "When EventBridge Scheduler runs the database update (freshclam): a rate() or cron() expression. ClamAV publishes updates several times a day and asks mirrors' users not to check more than once an hour."
  type        = string
  default     = "rate(3 hours)"
  nullable    = false

  validation {
    condition     = can(regex("^(rate\\(([2-9]|[1-9][0-9]+) hours\\)|rate\\(1 day\\)|rate\\([0-9]+ days\\)|cron\\(.+\\))$", var.signature_update_schedule))
    error_message = "signature_update_schedule must be rate(<n> hours) with n >= 2, rate(<n> days) or a cron() expression."
  }
}

variable "signature_max_age_hours" {
  description = "Age in hours (1-8760) of the ClamAV database a scan used (the build time of its newest part, the daily one when there) past which the signature-age alarm fires: the updater stopped or keeps failing. Null: the update schedule's interval plus 24 hours (27 at rate(3 hours); a cron() schedule counts as daily)."
  type        = number
  default     = null

  validation {
    condition     = var.signature_max_age_hours == null || try(var.signature_max_age_hours >= 1 && var.signature_max_age_hours <= 8760, false)
    error_message = "signature_max_age_hours must be between 1 and 8760 hours, or null for the schedule's interval plus 24 hours."
  }
}

################################################################################
# Storage
################################################################################

variable "force_destroy" {
  description = "Whether destroying the module deletes the workflow bucket's objects and the scanner repository's images (true or false). For short-lived environments."
  type        = bool
  default     = false
  nullable    = false
}

variable "results_expiration_days" {
  description = "Days the workflow bucket keeps bulk reprocessing's results (1-3650)."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = floor(var.results_expiration_days) == var.results_expiration_days && var.results_expiration_days >= 1 && var.results_expiration_days <= 3650
    error_message = "results_expiration_days must be a whole number between 1 and 3650."
  }
}

variable "codedeploy_app_name" {
  description = "CodeDeploy application (Lambda) of the release (modules/imgpipe codedeploy_app_name): each task function, of the imgpipe image and of the scanner image, gets a deployment group in it (task-<key>), which shifts its `live` alias. Null: no deployment groups (the alias stays on the version it was created on)."
  type        = string
  default     = null

  validation {
    condition     = var.codedeploy_app_name == null || can(regex("^[A-Za-z0-9_.+@=,-]{1,100}$", var.codedeploy_app_name))
    error_message = "codedeploy_app_name must be null or a CodeDeploy application name (1-100 letters, digits and _.+@=,-)."
  }
}

variable "codedeploy_role_name" {
  description = "Role the deployment groups release with (modules/imgpipe codedeploy_role_name); this module adds a policy for the task functions' aliases to it. Needed with codedeploy_app_name."
  type        = string
  default     = null

  validation {
    condition     = var.codedeploy_role_name == null || can(regex("^[A-Za-z0-9_+=,.@-]{1,64}$", var.codedeploy_role_name))
    error_message = "codedeploy_role_name must be null or an IAM role name (1-64 letters, digits and _+=,.@-)."
  }
}

variable "release_deployment_config" {
  description = "How CodeDeploy shifts each task function's `live` alias: one of its predefined Lambda configurations, as the imgpipe function's release (a canary's share of the state machines' invocations goes to the new version, whose errors roll it back)."
  type        = string
  default     = "CodeDeployDefault.LambdaAllAtOnce"
  nullable    = false

  validation {
    condition     = contains(["CodeDeployDefault.LambdaAllAtOnce", "CodeDeployDefault.LambdaCanary10Percent5Minutes", "CodeDeployDefault.LambdaCanary10Percent10Minutes", "CodeDeployDefault.LambdaCanary10Percent15Minutes", "CodeDeployDefault.LambdaCanary10Percent30Minutes", "CodeDeployDefault.LambdaLinear10PercentEvery1Minute", "CodeDeployDefault.LambdaLinear10PercentEvery2Minutes", "CodeDeployDefault.LambdaLinear10PercentEvery3Minutes", "CodeDeployDefault.LambdaLinear10PercentEvery10Minutes"], var.release_deployment_config)
    error_message = "release_deployment_config must be one of CodeDeploy's predefined Lambda configurations (CodeDeployDefault.LambdaAllAtOnce, ...Canary10Percent{5,10,15,30}Minutes, ...Linear10PercentEvery{1Minute,2Minutes,3Minutes,10Minutes})."
  }
}
