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
  alarm_description   = "Uploads whose workflow never started are in ${aws_sqs_queue.this[0].name}: start them again (terraform/README.md, \"Dead-letter queue\")."
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

# An upload the rule could not deliver and could not put in that queue either (the queue's policy,
# the queue deleted or full): lost, and seen by neither alarm above. Find its key in CloudTrail or
# the source bucket and start it again (upload it again, or `imgpipe reprocess` its prefix).
resource "aws_cloudwatch_metric_alarm" "dead_letter_failed" {
  count = var.upload_workflow_enabled ? 1 : 0

  alarm_name          = "${var.name}-upload-dead-letter-failed"
  alarm_description   = "The ${aws_cloudwatch_event_rule.this[0].name} rule could not put upload events it failed to deliver in ${aws_sqs_queue.this[0].name} (its policy or the queue itself): those uploads are not processed. Find their keys in CloudTrail or the source bucket and start them again."
  namespace           = "AWS/Events"
  metric_name         = "InvocationsFailedToBeSentToDlq"
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

# A failing update leaves the scanners on an ageing database: the alarm fires when a window of two
# scheduled runs (two rate() intervals; two days for a cron() schedule, at most CloudWatch's seven)
# holds invocations and not one succeeded. Successes are invocations less errors, so a run whose
# first attempt failed and whose retry (Lambda's asynchronous retries) succeeded is no failure, as
# Errors > 0 counted it; and the window follows the schedule, where a fixed two 6-hour periods could
# never see a daily schedule fail twice.
locals {
  signature_update_rate    = regexall("^rate\\(([0-9]+) (hours?|days?)\\)$", var.signature_update_schedule)
  signature_update_seconds = length(local.signature_update_rate) == 1 ? tonumber(local.signature_update_rate[0][0]) * (startswith(local.signature_update_rate[0][1], "hour") ? 3600 : 86400) : 86400
  database_update_window   = min(2 * local.signature_update_seconds, 604800)
}

resource "aws_cloudwatch_metric_alarm" "database_update" {
  count = contains(keys(aws_lambda_function.scanner), "update-database") ? 1 : 0

  alarm_name          = "${var.name}-update-database-errors"
  alarm_description   = "No ClamAV database update (freshclam) succeeded in the last ${local.database_update_window / 3600} hours (two scheduled runs, ${var.signature_update_schedule}), though it ran: the scanners keep the last good database in S3, which ages."
  evaluation_periods  = 1
  comparison_operator = "LessThanThreshold"
  threshold           = 1
  # No invocation in the window (none scheduled yet) is no failure.
  treat_missing_data = "notBreaching"
  alarm_actions      = local.alarm_actions
  ok_actions         = local.alarm_actions
  tags               = var.tags

  metric_query {
    id          = "succeeded"
    expression  = "invocations - FILL(errors, 0)"
    label       = "Successful database updates"
    return_data = true
  }

  dynamic "metric_query" {
    for_each = { invocations = "Invocations", errors = "Errors" }
    content {
      id = metric_query.key
      metric {
        namespace   = "AWS/Lambda"
        metric_name = metric_query.value
        dimensions  = { FunctionName = aws_lambda_function.scanner["update-database"].function_name }
        stat        = "Sum"
        period      = local.database_update_window
      }
    }
  }
}

# The database the scans use is older than the schedule allows: the updater stopped running (the
# schedule disabled or deleted, its role broken: the alarm above sees no invocation and stays
# quiet) or keeps failing. Each scan reports the age of the signatures it used (clamd's VERSION
# names the daily database's build time; without a daily part, the newest of main's and bytecode's
# file headers); no scan, no data, no alarm. Only with the official database's parts: signature
# files of one's own carry no build time.
locals {
  signature_max_age_hours = coalesce(var.signature_max_age_hours, local.signature_update_seconds / 3600 + 24)
}

resource "aws_cloudwatch_metric_alarm" "signature_age" {
  count = contains(keys(aws_lambda_function.scanner), "scan") ? 1 : 0

  alarm_name          = "${var.name}-signature-age"
  alarm_description   = "Uploads were scanned with a ClamAV database built more than ${local.signature_max_age_hours} hours ago: the database update (${var.signature_update_schedule}) has stopped running or keeps failing."
  namespace           = lookup(var.environment, "POWERTOOLS_METRICS_NAMESPACE", "imgpipe")
  metric_name         = "SignatureDatabaseAge"
  dimensions          = { service = lookup(var.environment, "POWERTOOLS_SERVICE_NAME", "imgpipe") }
  statistic           = "Maximum"
  period              = 3600
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = local.signature_max_age_hours * 3600
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}
