# Alarms on what no retry fixed, each to the deployment's alarm topic. The rejections themselves
# (malware, moderation, ...) are not alarms: each is an Image Quarantined event, which the imgpipe
# module's rule sends to the image alerts topic.

locals {
  state_machine_alarms = merge(
    { for key in keys(local.state_machine_names) : "${key}-failed" => {
      state_machine = key
      metric        = "ExecutionsFailed"
      description   = key == "upload" ? "Uploads that failed after their retries: each has status failed and an Image Failed event saying why." : "Bulk reprocessing runs that failed: a refused request, a failed listing, or more failed batches than the tolerated percentage. The run's summary and map run say which."
    } },
    { for key in keys(local.state_machine_names) : "${key}-timed-out" => {
      state_machine = key
      metric        = "ExecutionsTimedOut"
      description   = "Executions of ${local.state_machine_names[key]} that ran over their TimeoutSeconds."
    } },
  )
}

resource "aws_cloudwatch_metric_alarm" "state_machine" {
  for_each = local.state_machine_alarms

  alarm_name          = "${var.name}-${each.key}"
  alarm_description   = each.value.description
  namespace           = "AWS/States"
  metric_name         = each.value.metric
  dimensions          = { StateMachineArn = aws_sfn_state_machine.this[each.value.state_machine].arn }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

# The rule could not start an execution (after its retries): the upload is in the queue, not processed.
resource "aws_cloudwatch_metric_alarm" "rule_failed_invocations" {
  count = var.upload_workflow_enabled ? 1 : 0

  alarm_name          = "${var.name}-upload-rule-failed"
  alarm_description   = "The ${aws_cloudwatch_event_rule.this[0].name} rule failed to start the upload workflow: the uploads wait in ${aws_sqs_queue.this[0].name}."
  namespace           = "AWS/Events"
  metric_name         = "FailedInvocations"
  dimensions          = { RuleName = aws_cloudwatch_event_rule.this[0].name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "dead_letter_queue" {
  count = var.upload_workflow_enabled ? 1 : 0

  alarm_name          = "${var.name}-upload-dlq"
  alarm_description   = "Uploads whose workflow never started are in ${aws_sqs_queue.this[0].name}: start them again (README.md, \"Operating\")."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.this[0].name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

# A failing update leaves the scanners on an ageing database; two in a row is worth a look.
resource "aws_cloudwatch_metric_alarm" "database_update" {
  count = contains(keys(aws_lambda_function.scanner), "update-database") ? 1 : 0

  alarm_name          = "${var.name}-update-database-errors"
  alarm_description   = "The ClamAV database update (freshclam) failed twice in a row: the scanners keep the last good database in S3, which ages."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.scanner["update-database"].function_name }
  statistic           = "Sum"
  period              = 21600
  evaluation_periods  = 2
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}
