output "upload_state_machine_arn" {
  description = "ARN of the per-upload state machine (Express, `<name>-upload`), or null when upload_workflow_enabled is false."
  value       = try(aws_sfn_state_machine.this["upload"].arn, null)
}

output "reprocess_state_machine_arn" {
  description = "ARN of the bulk reprocessing state machine (Standard, `<name>-reprocess`): start it with {\"bucket\", \"prefix\" or \"keys\", \"force\", \"concurrency\", \"batchSize\", \"toleratedFailurePercentage\"} (README.md, \"Bulk reprocessing\")."
  value       = aws_sfn_state_machine.this["reprocess"].arn
}

output "state_machine_log_group_names" {
  description = "Execution log groups of the state machines, by state machine (upload, reprocess)."
  value       = { for key, group in aws_cloudwatch_log_group.state_machine : key => group.name }
}

output "function_names" {
  description = "Names of the task functions, by task (inspect, scan, moderate, process, quarantine, fail, update-database, reprocess-plan, reprocess-batch, reprocess-summarize; only those created)."
  value       = merge({ for key, fn in aws_lambda_function.image : key => fn.function_name }, { for key, fn in aws_lambda_function.scanner : key => fn.function_name })
}

output "workflow_bucket_id" {
  description = "Name of the workflow bucket: the ClamAV database under clamav/, bulk reprocessing's results and summaries under reprocess/<execution>/."
  value       = module.bucket.s3_bucket_id
}

output "scanner_ecr_repository_url" {
  description = "URL of the ECR repository for the scanner image (scanner/Dockerfile); pass its digest in scanner_image_digests."
  value       = module.scanner_ecr.ecr_repository_url
}

output "scanner_capacity" {
  description = "The largest object (bytes) the scan function can scan with its memory and ephemeral storage, and the limit that sets it: the scanner quarantines a larger upload as too-large (README.md, \"Sizing\")."
  value       = local.scanner_capacity_least
}

output "upload_dead_letter_queue_url" {
  description = "URL of the queue holding upload events the rule could not deliver, or null when upload_workflow_enabled is false."
  value       = one(aws_sqs_queue.this[*].url)
}

output "cloudwatch_metric_alarm_names" {
  description = "Names of the module's alarms: failed and timed-out executions per state machine, the rule's failed invocations, its dead-letter queue and the events that queue refused, the database update's errors and the scanned signatures' age (those created)."
  value = concat(
    [for alarm in aws_cloudwatch_metric_alarm.state_machine : alarm.alarm_name],
    aws_cloudwatch_metric_alarm.rule_failed_invocations[*].alarm_name,
    aws_cloudwatch_metric_alarm.dead_letter_queue[*].alarm_name,
    aws_cloudwatch_metric_alarm.dead_letter_failed[*].alarm_name,
    aws_cloudwatch_metric_alarm.database_update[*].alarm_name,
    aws_cloudwatch_metric_alarm.signature_age[*].alarm_name,
  )
}

output "task_function_versions" {
  description = "Newest published version of each task function of the imgpipe image, by function name: the deploy workflow moves each one's `live` alias to it once the release succeeded."
  value       = { for key, fn in aws_lambda_function.image : fn.function_name => fn.version }
}

output "task_releases" {
  description = "The release of each task function (of the imgpipe image and of the scanner image), by function name: { deployment_group (in codedeploy_app_name), version (the one this apply published) }. deploy.yml creates a CodeDeploy deployment of each whose `live` alias is on another version. Empty without codedeploy_app_name."
  value = { for key, fn in local.task_releases : fn.function_name => {
    deployment_group = aws_codedeploy_deployment_group.this[key].deployment_group_name
    version          = fn.version
  } }
}

output "process_provisioned_concurrency" {
  description = "Provisioned concurrency of the Process task function: { function_name, qualifier (the version number), provisioned_concurrent_executions }, or null when there is none (process_provisioned_concurrent_executions 0, or no per-upload workflow)."
  value = one([for config in aws_lambda_provisioned_concurrency_config.this : {
    function_name                     = config.function_name
    qualifier                         = config.qualifier
    provisioned_concurrent_executions = config.provisioned_concurrent_executions
  }])
}
