resource "aws_sns_topic" "this" {
  name              = "${var.name}-alarms"
  kms_master_key_id = aws_kms_key.this.arn
  tags              = var.tags
}

data "aws_iam_policy_document" "sns" {
  statement {
    sid = "AccountManagesTheTopic"
    actions = [
      "sns:AddPermission",
      "sns:DeleteTopic",
      "sns:GetTopicAttributes",
      "sns:ListSubscriptionsByTopic",
      "sns:Publish",
      "sns:RemovePermission",
      "sns:SetTopicAttributes",
      "sns:Subscribe",
    ]
    resources = [aws_sns_topic.this.arn]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid       = "CloudWatchAlarmsPublish"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.this.arn]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:cloudwatch:${local.region}:${local.account_id}:alarm:${var.name}-*"]
    }
  }

  statement {
    sid       = "BudgetsPublish"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.this.arn]

    principals {
      type        = "Service"
      identifiers = ["budgets.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_sns_topic_policy" "this" {
  arn    = aws_sns_topic.this.arn
  policy = data.aws_iam_policy_document.sns.json
}

resource "aws_sns_topic_subscription" "this" {
  count = var.alarm_email == null ? 0 : 1

  topic_arn = aws_sns_topic.this.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

locals {
  function_dimensions = { FunctionName = aws_lambda_function.this.function_name }
  canary_dimensions = {
    FunctionName    = aws_lambda_function.this.function_name
    Resource        = "${aws_lambda_function.this.function_name}:${aws_lambda_alias.this.name}"
    ExecutedVersion = local.published_version
  }
  duration_threshold_ms = var.timeout * 1000 * var.alarm_duration_percent_of_timeout / 100
  alarm_actions         = [aws_sns_topic.this.arn]
}

resource "aws_cloudwatch_metric_alarm" "errors" {
  alarm_name          = "${var.name}-errors"
  alarm_description   = "Invocations of ${var.name} that threw (S3 errors are retried; bad input is quarantined and does not count)."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = local.function_dimensions
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.alarm_errors_threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "throttles" {
  alarm_name          = "${var.name}-throttles"
  alarm_description   = "Invocations of ${var.name} refused for lack of concurrency; S3 events are retried for up to maximum_event_age_in_seconds."
  namespace           = "AWS/Lambda"
  metric_name         = "Throttles"
  dimensions          = local.function_dimensions
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "duration_p99" {
  alarm_name          = "${var.name}-duration-p99"
  alarm_description   = "p99 duration of ${var.name} above ${var.alarm_duration_percent_of_timeout}% of its ${var.timeout} s timeout."
  namespace           = "AWS/Lambda"
  metric_name         = "Duration"
  dimensions          = local.function_dimensions
  extended_statistic  = "p99"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = local.duration_threshold_ms
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "dead_letter_queue" {
  alarm_name          = "${var.name}-dead-letter-queue"
  alarm_description   = "Events ${var.name} gave up on are waiting in ${aws_sqs_queue.this.name}; redrive them (terraform/README.md: Dead-letter queue)."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.this.name }
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

resource "aws_cloudwatch_metric_alarm" "async_event_age" {
  alarm_name          = "${var.name}-async-event-age"
  alarm_description   = "S3 events waited more than ${var.alarm_async_event_age_seconds} s before ${var.name} ran them (throttling or retries); after ${var.maximum_event_age_in_seconds} s they go to the dead-letter queue."
  namespace           = "AWS/Lambda"
  metric_name         = "AsyncEventAge"
  dimensions          = local.function_dimensions
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.alarm_async_event_age_seconds * 1000
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

# Outcome events the functions could not put after the publisher's retries (EMF metric EventsFailed):
# the image is processed and its status recorded, but subscribers never hear of it. Summed over 5
# minutes, so an episode (a throttled burst, a missing permission, a deleted bus) raises one alarm,
# yet a single lost event in a quiet hour still counts. Every function running the pipeline emits it
# under the same service dimension.
resource "aws_cloudwatch_metric_alarm" "events_failed" {
  alarm_name          = "${var.name}-events-failed"
  alarm_description   = "Outcome events of ${var.name} that could not be put on ${local.event_bus_name} after retries (see terraform/README.md, \"Status, events and image alerts\"). The images themselves are processed."
  namespace           = var.metrics_namespace
  metric_name         = "EventsFailed"
  dimensions          = { service = var.service_name }
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

# Deliveries of the image alerts rule to its topic that failed for good: a topic or key policy that
# refuses EventBridge, a deleted topic. Without it, alerts would stop silently. EventBridge names
# rules on the default bus by RuleName alone, on other buses by EventBusName and RuleName.
resource "aws_cloudwatch_metric_alarm" "image_alerts_failed" {
  alarm_name          = "${var.name}-image-alerts-failed"
  alarm_description   = "The ${aws_cloudwatch_event_rule.this.name} rule could not deliver quarantined or failed image events to the ${aws_sns_topic.image_alerts.name} topic."
  namespace           = "AWS/Events"
  metric_name         = "FailedInvocations"
  dimensions          = local.event_bus_name == "default" ? { RuleName = aws_cloudwatch_event_rule.this.name } : { EventBusName = local.event_bus_name, RuleName = aws_cloudwatch_event_rule.this.name }
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

# Throttled reads and writes of the status table or its index. On demand, DynamoDB throttles a
# table whose traffic more than doubles its previous peak within 30 minutes, and an index partition
# above 1000 writes a second: every upload writes the index's `processing` partition, so a burst of
# uploads reaches it first. Throttled status writes are retried, and fail the invocation when they
# keep failing.
resource "aws_cloudwatch_metric_alarm" "status_throttles" {
  count = var.create_status_table ? 1 : 0

  alarm_name          = "${var.name}-status-throttles"
  alarm_description   = "Reads or writes of the status table ${aws_dynamodb_table.this[0].name} or its ${local.status_index_name} index were throttled."
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags

  metric_query {
    id          = "throttled"
    expression  = "table_reads + table_writes + index_writes"
    label       = "Throttled status table requests"
    return_data = true
  }

  dynamic "metric_query" {
    for_each = {
      table_reads  = { metric = "ReadThrottleEvents", dimensions = { TableName = aws_dynamodb_table.this[0].name } }
      table_writes = { metric = "WriteThrottleEvents", dimensions = { TableName = aws_dynamodb_table.this[0].name } }
      index_writes = { metric = "WriteThrottleEvents", dimensions = { TableName = aws_dynamodb_table.this[0].name, GlobalSecondaryIndexName = local.status_index_name } }
    }

    content {
      id = metric_query.key

      metric {
        namespace   = "AWS/DynamoDB"
        metric_name = metric_query.value.metric
        dimensions  = metric_query.value.dimensions
        stat        = "Sum"
        period      = 60
      }
    }
  }
}

# While a canary runs, alarms on the new version alone: at a 10% weight its errors would be lost in
# the function-wide numbers. The deploy workflow watches these (output canary_alarm_names).
resource "aws_cloudwatch_metric_alarm" "canary_errors" {
  count = local.canary ? 1 : 0

  alarm_name          = "${var.name}-canary-errors"
  alarm_description   = "Errors of the canary version of ${var.name}."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = local.canary_dimensions
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "canary_duration_p99" {
  count = local.canary ? 1 : 0

  alarm_name          = "${var.name}-canary-duration-p99"
  alarm_description   = "p99 duration of the canary version of ${var.name} above ${var.alarm_duration_percent_of_timeout}% of the timeout."
  namespace           = "AWS/Lambda"
  metric_name         = "Duration"
  dimensions          = local.canary_dimensions
  extended_statistic  = "p99"
  period              = 60
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = local.duration_threshold_ms
  treat_missing_data  = "notBreaching"
  tags                = var.tags
}

locals {
  emf_dimensions = ["service", var.service_name]
  region_widget  = { region = local.region, view = "timeSeries", stacked = false }
  fn             = aws_lambda_function.this.function_name

  # EventBridge's dimensions of the rule's metrics: RuleName on the default bus, EventBusName and
  # RuleName on any other.
  image_alerts_rule_dimensions = local.event_bus_name == "default" ? ["RuleName", local.image_alerts_name] : ["EventBusName", local.event_bus_name, "RuleName", local.image_alerts_name]

  dashboard_widgets = concat([
    {
      title   = "Invocations, errors and throttles"
      metrics = [for name in ["Invocations", "Errors", "Throttles"] : ["AWS/Lambda", name, "FunctionName", local.fn, { stat = "Sum" }]]
    },
    {
      title   = "Duration (ms)"
      metrics = [for p in ["p50", "p90", "p99", "Maximum"] : ["AWS/Lambda", "Duration", "FunctionName", local.fn, { stat = p, label = p }]]
      annotations = {
        horizontal = [{ label = "Alarm (${var.alarm_duration_percent_of_timeout}% of timeout)", value = local.duration_threshold_ms }]
      }
    },
    {
      title = "Concurrency"
      metrics = [
        ["AWS/Lambda", "ConcurrentExecutions", "FunctionName", local.fn, { stat = "Maximum" }],
        # Provisioned concurrency is reported per version (Resource dimension), which changes each release.
        [{ expression = "SEARCH('{AWS/Lambda,FunctionName,Resource} MetricName=\"ProvisionedConcurrencyUtilization\" FunctionName=\"${local.fn}\"', 'Maximum', 60)", id = "pc", label = "Provisioned concurrency utilization" }],
        [{ expression = "SEARCH('{AWS/Lambda,FunctionName,Resource} MetricName=\"ProvisionedConcurrencySpilloverInvocations\" FunctionName=\"${local.fn}\"', 'Sum', 60)", id = "spill", label = "Spillover invocations" }],
      ]
    },
    {
      title = "Asynchronous events"
      metrics = [
        ["AWS/Lambda", "AsyncEventAge", "FunctionName", local.fn, { stat = "Maximum" }],
        ["AWS/Lambda", "AsyncEventsDropped", "FunctionName", local.fn, { stat = "Sum" }],
        ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", aws_sqs_queue.this.name, { stat = "Maximum", label = "Dead-letter queue" }],
      ]
    },
    {
      title = "Outcomes (objects)"
      metrics = [
        for name in ["ObjectsProcessed", "ObjectsDuplicate", "ObjectsQuarantined", "ObjectsMissing", "ObjectsIgnored", "ObjectsFailed"] :
        concat([var.metrics_namespace, name], local.emf_dimensions, [{ stat = "Sum" }])
      ]
    },
    {
      title = "Stage times (ms, average)"
      metrics = [
        for name in ["ReadTime", "DecodeTime", "ResizeTime", "EncodeTime", "WriteTime", "ProcessingTime"] :
        concat([var.metrics_namespace, name], local.emf_dimensions, [{ stat = "Average" }])
      ]
    },
    {
      title = "Bytes in and out"
      metrics = [
        for name in ["BytesIn", "BytesOut"] : concat([var.metrics_namespace, name], local.emf_dimensions, [{ stat = "Sum" }])
      ]
    },
    {
      title   = "Cold starts"
      metrics = [[var.metrics_namespace, "ColdStart", "function_name", local.fn, "service", var.service_name, { stat = "Sum" }]]
    },
    {
      title = "Outcome events and image alerts"
      metrics = [
        concat([var.metrics_namespace, "EventsSent"], local.emf_dimensions, [{ stat = "Sum", label = "Events put" }]),
        concat([var.metrics_namespace, "EventsFailed"], local.emf_dimensions, [{ stat = "Sum", label = "Events not put" }]),
        concat(["AWS/Events", "Invocations"], local.image_alerts_rule_dimensions, [{ stat = "Sum", label = "Image alerts sent" }]),
        concat(["AWS/Events", "FailedInvocations"], local.image_alerts_rule_dimensions, [{ stat = "Sum", label = "Image alerts failed" }]),
      ]
    },
    ], var.create_status_table ? [
    {
      title = "Status table"
      metrics = [
        ["AWS/DynamoDB", "ConsumedWriteCapacityUnits", "TableName", local.status_table_name, { stat = "Sum" }],
        ["AWS/DynamoDB", "ConsumedReadCapacityUnits", "TableName", local.status_table_name, { stat = "Sum" }],
        ["AWS/DynamoDB", "WriteThrottleEvents", "TableName", local.status_table_name, { stat = "Sum" }],
        ["AWS/DynamoDB", "ReadThrottleEvents", "TableName", local.status_table_name, { stat = "Sum" }],
        ["AWS/DynamoDB", "WriteThrottleEvents", "TableName", local.status_table_name, "GlobalSecondaryIndexName", local.status_index_name, { stat = "Sum", label = "WriteThrottleEvents (${local.status_index_name})" }],
      ]
    },
  ] : [])
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = var.name
  dashboard_body = jsonencode({
    widgets = [
      for i, widget in local.dashboard_widgets : {
        type       = "metric"
        x          = (i % 2) * 12
        y          = floor(i / 2) * 6
        width      = 12
        height     = 6
        properties = merge(local.region_widget, { period = 60 }, widget)
      }
    ]
  })
}
