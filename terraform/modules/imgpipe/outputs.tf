################################################################################
# Image
################################################################################

output "ecr_repository_name" {
  description = "Name of the ECR repository the images are pushed to."
  value       = module.ecr.ecr_repository_name
}

output "ecr_repository_arn" {
  description = "ARN of the ECR repository."
  value       = module.ecr.ecr_repository_arn
}

output "ecr_repository_url" {
  description = "URL of the ECR repository (`<account>.dkr.ecr.<region>.amazonaws.com/<name>`)."
  value       = module.ecr.ecr_repository_url
}

output "image_platform" {
  description = "Platform to build the function's image for, derived from var.architectures: linux/arm64 or linux/amd64 (`docker buildx build --platform`)."
  value       = local.image_platform
}

################################################################################
# Function
################################################################################

output "lambda_function_name" {
  description = "Name of the function."
  value       = aws_lambda_function.this.function_name
}

output "lambda_function_arn" {
  description = "Unqualified ARN of the function."
  value       = aws_lambda_function.this.arn
}

output "lambda_function_version" {
  description = "Latest version published by Terraform: the TargetVersion of the next CodeDeploy deployment (the live alias may still route to an earlier one)."
  value       = aws_lambda_function.this.version
}

output "lambda_function_image_uri" {
  description = "Image the function runs, by digest (`<repository url>@sha256:...`)."
  value       = aws_lambda_function.this.image_uri
}

output "lambda_alias_name" {
  description = "Name of the alias S3 invokes (`live`)."
  value       = aws_lambda_alias.this.name
}

output "lambda_alias_arn" {
  description = "ARN of the `live` alias; invoke this, not the function, to get the released version."
  value       = aws_lambda_alias.this.arn
}

output "lambda_alias_function_version" {
  description = "Version the `live` alias routed to when Terraform last read it; CodeDeploy moves it (`aws lambda get-alias` has the current one)."
  value       = aws_lambda_alias.this.function_version
}

output "lambda_role_name" {
  description = "Name of the function's execution role."
  value       = aws_iam_role.this.name
}

output "lambda_role_arn" {
  description = "ARN of the function's execution role."
  value       = aws_iam_role.this.arn
}

output "lambda_environment" {
  description = "Environment of the function (the settings of src/config/settings.ts): the functions that run the same pipeline or read its results (the workflow's tasks, the HTTP API of modules/api) get the same."
  value       = local.environment
}

output "pipeline_policy_json" {
  description = "IAM policy document (JSON) of what running the pipeline on an object needs: the buckets, the key, the status table, the bus, the pipeline parameter. The workflow module's task roles are built on it."
  value       = data.aws_iam_policy_document.pipeline.json
}

output "inspect_policy_json" {
  description = "IAM policy document (JSON) of what inspecting an upload needs (the workflow module's Inspect task): reading the upload and its manifest, its status item, its event, the pipeline parameter, kms:Decrypt; no write or delete of outputs, results or quarantine."
  value       = data.aws_iam_policy_document.inspect.json
}

output "record_policy_json" {
  description = "IAM policy document (JSON) of what recording an outcome where nothing is made needs (the workflow module's RecordFailure task): the status item, the event, the pipeline parameter, kms:Decrypt; no bucket."
  value       = data.aws_iam_policy_document.record.json
}

output "cloudwatch_log_group_name" {
  description = "Name of the function's log group."
  value       = aws_cloudwatch_log_group.this.name
}

output "cloudwatch_log_group_arn" {
  description = "ARN of the function's log group."
  value       = aws_cloudwatch_log_group.this.arn
}

################################################################################
# Storage and encryption
################################################################################

output "kms_key_arn" {
  description = "ARN of the KMS key encrypting the buckets, logs, dead-letter queue, status table and topics. Uploaders need kms:GenerateDataKey on it, readers of outputs kms:Decrypt."
  value       = module.kms.key_arn
}

output "kms_alias_name" {
  description = "Alias of the KMS key (`alias/<name>`)."
  value       = module.kms.alias_name
}

output "source_bucket_id" {
  description = "Name of the source bucket: uploads here invoke the function."
  value       = module.source_bucket.s3_bucket_id
}

output "source_bucket_arn" {
  description = "ARN of the source bucket."
  value       = module.source_bucket.s3_bucket_arn
}

output "output_bucket_id" {
  description = "Name of the output bucket (variants and manifests)."
  value       = module.output_bucket.s3_bucket_id
}

output "output_bucket_arn" {
  description = "ARN of the output bucket."
  value       = module.output_bucket.s3_bucket_arn
}

output "output_bucket_regional_domain_name" {
  description = "The output bucket's regional domain name: a CloudFront origin (modules/transform)."
  value       = module.output_bucket.s3_bucket_regional_domain_name
}

output "quarantine_bucket_id" {
  description = "Name of the quarantine bucket (rejected inputs and their reason records)."
  value       = module.quarantine_bucket.s3_bucket_id
}

output "quarantine_bucket_arn" {
  description = "ARN of the quarantine bucket."
  value       = module.quarantine_bucket.s3_bucket_arn
}

output "sqs_queue_url" {
  description = "URL of the dead-letter queue that receives events the function gave up on."
  value       = aws_sqs_queue.this.url
}

output "sqs_queue_arn" {
  description = "ARN of the dead-letter queue."
  value       = aws_sqs_queue.this.arn
}

output "source_deleted_dlq_url" {
  description = "URL of the dead-letter queue of the source-deleted rule: the Object Deleted events it could not deliver to the function, each message the event itself (null unless source_events_to_eventbridge)."
  value       = one(aws_sqs_queue.source_deleted[*].url)
}

output "source_deleted_dlq_arn" {
  description = "ARN of the source-deleted rule's dead-letter queue (null unless source_events_to_eventbridge)."
  value       = one(aws_sqs_queue.source_deleted[*].arn)
}

################################################################################
# Status, events and image alerts
################################################################################

output "status_table_name" {
  description = "Name of the status table (`<name>-status`; IMGPIPE_STATUS_TABLE), keyed by id = `<bucket>/<key>`, or null when create_status_table is false."
  value       = one(aws_dynamodb_table.this[*].name)
}

output "status_table_arn" {
  description = "ARN of the status table, or null when create_status_table is false. Readers of statuses (imgpipe status) need dynamodb:GetItem on it and dynamodb:Query on `<arn>/index/byStatus`."
  value       = one(aws_dynamodb_table.this[*].arn)
}

output "cloudwatch_event_bus_name" {
  description = "Name of the bus the outcome events go to: the deployment's own (`<name>`) or event_bus_name."
  value       = local.event_bus_name
}

output "cloudwatch_event_bus_arn" {
  description = "ARN of the bus the outcome events go to (IMGPIPE_EVENT_BUS); add rules on it for source imgpipe to react to finished images."
  value       = local.event_bus_arn
}

output "cloudwatch_event_rule_name" {
  description = "Name of the rule sending Image Quarantined and Image Failed events to the image alerts topic."
  value       = aws_cloudwatch_event_rule.this.name
}

output "image_alerts_topic_arn" {
  description = "ARN of the topic receiving every Image Quarantined and Image Failed event (KMS-encrypted); subscribe the people or systems that act on rejected uploads."
  value       = aws_sns_topic.image_alerts.arn
}

################################################################################
# Monitoring
################################################################################

output "sns_topic_arn" {
  description = "ARN of the topic receiving alarm and budget notifications; subscribe more endpoints to it as needed."
  value       = aws_sns_topic.this.arn
}

output "cloudwatch_metric_alarm_names" {
  description = "Names of the alarms by purpose (the suffix of the name, with underscores): errors, throttles, duration_p99, async_event_age, dead_letter_queue, async_events_dropped, destination_delivery_failures, events_failed, image_alerts_failed, source_deleted_failed, source_deleted_dead_letter_queue and source_deleted_dead_letter_failed (source_events_to_eventbridge only), quarantine_ratio, failure_ratio, the canary_* alarms of the newest version, and status_throttles (null when create_status_table is false)."
  value = merge(
    { for key, alarm in aws_cloudwatch_metric_alarm.this : replace(key, "-", "_") => alarm.alarm_name },
    { for key, alarm in aws_cloudwatch_metric_alarm.canary : replace(key, "-", "_") => alarm.alarm_name },
    { for key, alarm in aws_cloudwatch_metric_alarm.ratio : replace(key, "-", "_") => alarm.alarm_name },
    { status_throttles = one(aws_cloudwatch_metric_alarm.status_throttles[*].alarm_name) },
  )
}

output "release_alarm_names" {
  description = "Alarms CodeDeploy watches while it shifts the live alias (the deployment group's): the new version's own errors, p99 duration, quarantine and failure ratios. Any of them in ALARM stops the deployment and rolls the alias back. None is function-wide: those count mostly the version being replaced, whose incident would stop the release that fixes it."
  value       = local.release_alarm_names
}

output "codedeploy_app_name" {
  description = "CodeDeploy application that releases the function (`<name>`)."
  value       = aws_codedeploy_app.this.name
}

output "codedeploy_deployment_group_name" {
  description = "Deployment group that shifts the live alias (`live`)."
  value       = aws_codedeploy_deployment_group.this.deployment_group_name
}

output "release_hook_function_names" {
  description = "The release hooks, by lifecycle event: BeforeAllowTraffic and AfterAllowTraffic (the AppSpec's Hooks)."
  value       = { for event, hook in aws_lambda_function.release_check : event => hook.function_name }
}

output "release_check_manifest_key" {
  description = "Key, in the output bucket, of the manifest the function writes for the release check photo (imgpipe-release-check/photo.jpg): the output prefix and the manifest template applied. The deploy workflow waits for it after uploading the photo. Null when the pipeline document is in Parameter Store and IMGPIPE_MANIFEST_TEMPLATE is not set (Terraform cannot know the template)."
  value       = local.release_check_manifest_key
}

output "cloudwatch_dashboard_name" {
  description = "Name of the CloudWatch dashboard (invocations, errors, duration percentiles, concurrency, the pipeline's EMF metrics, outcome events and the status table)."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}

output "budget_cost_filters" {
  description = "Cost filters of the monthly budget (name, values): what it counts. Empty without a budget or a filter."
  value       = flatten([for budget in aws_budgets_budget.this : [for filter in budget.cost_filter : { name = filter.name, values = filter.values }]])
}

output "budget_notification_types" {
  description = "Notification types of the monthly budget (ACTUAL, FORECASTED), one per notification; empty without a budget."
  value       = flatten([for budget in aws_budgets_budget.this : [for n in budget.notification : n.notification_type]])
}

output "budgets_budget_name" {
  description = "Name of the monthly cost budget, or null when budget_monthly_limit_usd is null."
  value       = one(aws_budgets_budget.this[*].name)
}

output "provisioned_concurrency" {
  description = "Provisioned concurrency of the function: { function_name, qualifier (the version number), provisioned_concurrent_executions }, or null when provisioned_concurrent_executions is 0."
  value = one([for config in aws_lambda_provisioned_concurrency_config.this : {
    function_name                     = config.function_name
    qualifier                         = config.qualifier
    provisioned_concurrent_executions = config.provisioned_concurrent_executions
  }])
}

output "codedeploy_role_name" {
  description = "Role CodeDeploy releases with (`<name>-codedeploy`): the workflow module adds its task functions' aliases and alarms to it."
  value       = aws_iam_role.codedeploy.name
}
