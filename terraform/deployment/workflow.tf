# The deployment mode, and bulk reprocessing (../modules/workflow). Kept in its own file: the mode's
# variables, the module and its outputs.
#
#   mode = "direct"    (default) S3 invokes the function for each upload.
#   mode = "workflow"  S3 sends its events to EventBridge, and a rule starts a state machine per
#                      upload: inspect, malware scan, moderation, process; rejections quarantined.
#
# Bulk reprocessing (<deployment>-reprocess, a Distributed Map) exists in both modes.

variable "mode" {
  description = "How uploads reach the pipeline: direct (S3 invokes the function) or workflow (EventBridge starts the per-upload state machine: inspect, malware scan, moderation, process)."
  type        = string
  default     = "direct"
  nullable    = false

  validation {
    condition     = contains(["direct", "workflow"], var.mode)
    error_message = "mode must be direct or workflow."
  }
}

variable "malware_scan_enabled" {
  description = "Workflow mode: whether every upload is scanned with ClamAV (needs the scanner image: scanner_image_digests)."
  type        = bool
  default     = true
}

variable "moderation_enabled" {
  description = "Workflow mode: whether every image is checked with Amazon Rekognition content moderation."
  type        = bool
  default     = true
}

variable "moderation_min_confidence" {
  description = "Workflow mode: the least confidence (0-100) of a moderation label that counts."
  type        = number
  default     = 80
}

variable "moderation_max_tiles" {
  description = "Workflow mode: the most tiles (1-16) of 2:1 an image more than 2:1 is moderated in, each one Rekognition call; an image that needs more is quarantined as moderation (8 cover up to 9:1)."
  type        = number
  default     = 8
}

variable "reprocess_max_concurrency" {
  description = "The most child executions (1-10000) a bulk reprocessing (either mode) runs at once; a request's concurrency above it is refused. Each is a Lambda invocation at a time: keep it well under the account's Lambda concurrency, or the live uploads are throttled."
  type        = number
  default     = 100
}

variable "moderation_categories" {
  description = "Workflow mode: moderation label names (any level of Rekognition's taxonomy) that reject an image; empty: every label."
  type        = list(string)
  default     = []
}

variable "scanner_image_digests" {
  description = "Workflow mode: digests of the scanner image (scanner/Dockerfile) in this environment's scanner repository (output scanner_ecr_repository_url), by architecture, as image_digests. Each release passes it in image.tfvars.json with image_digests (release.yml builds and scans the scanner image, deploy.yml copies it into this environment's scanner repository), which overrides a value in terraform.tfvars.json."
  type        = map(string)
  default     = {}
}

variable "scanner_memory_size" {
  description = "Workflow mode: memory of the scan function in MB (2048-10240): clamd's database (about 1.2 GiB) plus Node and the object, read whole. With scanner_ephemeral_storage_size it bounds the largest object scanned; a larger one is quarantined as too-large (modules/workflow/README.md, \"Sizing\")."
  type        = number
  default     = 3008
}

variable "scanner_ephemeral_storage_size" {
  description = "Workflow mode: ephemeral storage (/tmp) of the scan and update functions in MB (1024-10240): the database's copy and clamd's temporary files, the scanned object among them. With scanner_memory_size it bounds the largest object scanned (modules/workflow/README.md, \"Sizing\")."
  type        = number
  default     = 2048
}

module "workflow" {
  source = "../modules/workflow"

  name                 = local.name
  image_uri            = module.imgpipe.lambda_function_image_uri
  architectures        = var.architectures
  environment          = module.imgpipe.lambda_environment
  pipeline_policy_json = module.imgpipe.pipeline_policy_json
  inspect_policy_json  = module.imgpipe.inspect_policy_json
  record_policy_json   = module.imgpipe.record_policy_json
  kms_key_arn          = module.imgpipe.kms_key_arn
  source_bucket_name   = module.imgpipe.source_bucket_id
  # The upload filters (variables.tf), which the imgpipe module's notifications use in the direct
  # mode: the upload rule and Inspect hold to them in the workflow mode, bulk reprocessing in both.
  source_notification_filters = { for index, filter in var.source_notification_filters : tostring(index) => filter }
  alarm_topic_arn             = module.imgpipe.sns_topic_arn
  # The task functions' releases: deployment groups of the release's application, with its role
  # and its canary or linear configuration (modules/workflow/codedeploy.tf).
  codedeploy_app_name       = module.imgpipe.codedeploy_app_name
  codedeploy_role_name      = module.imgpipe.codedeploy_role_name
  release_deployment_config = var.release_deployment_config

  # The tuned memory and timeout (tuning.tfvars.json), for the tasks that decode images; the tuned
  # provisioned concurrency goes to Process, which processes every upload in the workflow mode (the
  # imgpipe function then gets none: main.tf).
  memory_size                               = var.lambda_memory_size
  timeout                                   = var.lambda_timeout
  process_provisioned_concurrent_executions = var.mode == "workflow" ? var.lambda_provisioned_concurrency : 0

  upload_workflow_enabled   = var.mode == "workflow"
  malware_scan_enabled      = var.malware_scan_enabled
  moderation_enabled        = var.moderation_enabled
  moderation_min_confidence = var.moderation_min_confidence
  moderation_max_tiles      = var.moderation_max_tiles
  moderation_categories     = var.moderation_categories
  reprocess_max_concurrency = var.reprocess_max_concurrency
  scanner_image_digests     = var.scanner_image_digests
  # The scanner's dev builds are copied by staging and prod, as the function's (modules/imgpipe).
  ecr_pull_account_ids = var.ecr_pull_account_ids
  # How large an upload the scanner can take (the module refuses a maxBytes over it at plan).
  scanner_memory_size            = var.scanner_memory_size
  scanner_ephemeral_storage_size = var.scanner_ephemeral_storage_size

  tracing_enabled           = var.tracing_enabled
  log_retention_in_days     = var.log_retention_in_days
  role_permissions_boundary = local.role_permissions_boundary
  force_destroy             = var.force_destroy
}

output "mode" {
  description = "The deployment mode: direct or workflow."
  value       = var.mode
}

output "reprocess_state_machine_arn" {
  description = "Bulk reprocessing state machine to start for objects already in the source bucket (terraform/README.md, \"Reprocessing existing objects\")."
  value       = module.workflow.reprocess_state_machine_arn
}

output "upload_state_machine_arn" {
  description = "Per-upload state machine (workflow mode), or null in the direct mode."
  value       = module.workflow.upload_state_machine_arn
}

output "workflow_bucket_id" {
  description = "Bucket of the ClamAV database (clamav/) and of bulk reprocessing's results and summaries (reprocess/)."
  value       = module.workflow.workflow_bucket_id
}

output "scanner_ecr_repository_url" {
  description = "Repository to push the scanner image (scanner/Dockerfile) to, in the workflow mode."
  value       = module.workflow.scanner_ecr_repository_url
}

output "task_function_versions" {
  description = "Newest published version of each task function of the imgpipe image, by name: CodeDeploy shifts their live aliases to them (task_releases)."
  value       = module.workflow.task_function_versions
}

output "task_releases" {
  description = "The release of each task function (of the imgpipe image and of the scanner image), by function name: { deployment_group, version }. deploy.yml creates a CodeDeploy deployment of each (in codedeploy_app_name) once the function's release succeeded."
  value       = module.workflow.task_releases
}

output "provisioned_concurrency" {
  description = "Where the tuned provisioned concurrency (lambda_provisioned_concurrency) is: { function_name, qualifier, provisioned_concurrent_executions } of the function that processes the uploads (imgpipe-<environment> in the direct mode, imgpipe-<environment>-process in the workflow mode), or null when it is 0."
  value       = var.mode == "workflow" ? module.workflow.process_provisioned_concurrency : module.imgpipe.provisioned_concurrency
}
