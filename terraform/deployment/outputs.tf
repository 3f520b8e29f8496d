output "lambda_function_name" {
  description = "Name of the function."
  value       = module.imgpipe.lambda_function_name
}

output "lambda_function_version" {
  description = "Newest published version: the TargetVersion of the next CodeDeploy deployment."
  value       = module.imgpipe.lambda_function_version
}

output "lambda_alias_arn" {
  description = "ARN of the live alias that S3 invokes."
  value       = module.imgpipe.lambda_alias_arn
}

output "lambda_alias_function_version" {
  description = "Version the live alias routes to."
  value       = module.imgpipe.lambda_alias_function_version
}

output "lambda_function_image_uri" {
  description = "Image the function runs, by digest."
  value       = module.imgpipe.lambda_function_image_uri
}

output "ecr_repository_url" {
  description = "Repository to push this environment's images to."
  value       = module.imgpipe.ecr_repository_url
}

output "image_platform" {
  description = "Platform of the image the function runs (linux/arm64 or linux/amd64)."
  value       = module.imgpipe.image_platform
}

output "source_bucket_id" {
  description = "Bucket whose uploads invoke the function."
  value       = module.imgpipe.source_bucket_id
}

output "output_bucket_id" {
  description = "Bucket receiving variants and manifests."
  value       = module.imgpipe.output_bucket_id
}

output "quarantine_bucket_id" {
  description = "Bucket receiving rejected inputs and their reasons."
  value       = module.imgpipe.quarantine_bucket_id
}

output "kms_key_arn" {
  description = "KMS key of the buckets; uploaders need kms:GenerateDataKey on it."
  value       = module.imgpipe.kms_key_arn
}

output "sqs_queue_url" {
  description = "Dead-letter queue of failed events (see the README to redrive them)."
  value       = module.imgpipe.sqs_queue_url
}

output "source_deleted_dlq_url" {
  description = "In the workflow mode, the dead-letter queue of Object Deleted events the source-deleted rule could not deliver (see the README to hand them back); null otherwise."
  value       = module.imgpipe.source_deleted_dlq_url
}

output "status_table_name" {
  description = "Status table (key id = <bucket>/<key>), or null when create_status_table is false."
  value       = module.imgpipe.status_table_name
}

output "cloudwatch_event_bus_arn" {
  description = "Bus the outcome events go to (source imgpipe)."
  value       = module.imgpipe.cloudwatch_event_bus_arn
}

output "image_alerts_topic_arn" {
  description = "Topic of quarantined and failed image events."
  value       = module.imgpipe.image_alerts_topic_arn
}

output "sns_topic_arn" {
  description = "Topic of alarm and budget notifications."
  value       = module.imgpipe.sns_topic_arn
}

output "release_alarm_names" {
  description = "Alarms CodeDeploy watches while it shifts the live alias; any in ALARM rolls it back."
  value       = module.imgpipe.release_alarm_names
}

output "codedeploy_app_name" {
  description = "CodeDeploy application of the release (deploy.yml creates deployments in it)."
  value       = module.imgpipe.codedeploy_app_name
}

output "codedeploy_deployment_group_name" {
  description = "Deployment group that shifts the live alias."
  value       = module.imgpipe.codedeploy_deployment_group_name
}

output "release_hook_function_names" {
  description = "The release hooks by lifecycle event (the AppSpec's Hooks)."
  value       = module.imgpipe.release_hook_function_names
}

output "release_check_manifest_key" {
  description = "Manifest key of the release check photo in the output bucket, which deploy.yml waits for after uploading it; null when the pipeline document's manifest template is in Parameter Store."
  value       = module.imgpipe.release_check_manifest_key
}

output "cloudwatch_dashboard_name" {
  description = "CloudWatch dashboard of the deployment."
  value       = module.imgpipe.cloudwatch_dashboard_name
}

output "api_url" {
  description = "Base URL of the HTTP API, or null when api.enabled is false."
  value       = one(module.api[*].api_url)
}

output "web_url" {
  description = "URL of the web page, or null."
  value       = one(module.api[*].web_url)
}

output "cognito_user_pool_id" {
  description = "User pool of the API's users (add them, and admins to the admin group), or null."
  value       = one(module.api[*].cognito_user_pool_id)
}

output "transform_url" {
  description = "Base URL of on-demand transformations (<url>/t/<key>?w=…&sig=…; imgpipe sign --base <url>), or null when transform.enabled is false."
  value       = one(module.transform[*].url)
}

output "transform_signing_keys_parameter_name" {
  description = "The SecureString parameter to create with the signing keys (one a line, newest first; Terraform does not manage it), or null."
  value       = one(module.transform[*].signing_keys_parameter_name)
}

output "transform_distribution_id" {
  description = "The transformations' CloudFront distribution id (for invalidations, e.g. /t/<key>* after replacing a source), or null."
  value       = one(module.transform[*].cloudfront_distribution_id)
}
