resource "aws_sns_topic" "this" {
  name              = "${var.name}-alarms"
  kms_master_key_id = module.kms.key_arn
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
  # The new version's Lambda metrics during a release, wherever it is invoked (the canary alarms
  # add both up). Lambda publishes a metric under the qualifier invoked (dimension Resource), and
  # ExecutedVersion only for an alias's invocations:
  # - alias: the traffic CodeDeploy shifts to it behind the live alias (Resource <name>:live,
  #   ExecutedVersion N);
  # - version: the invocations of the version itself (Resource <name>:N), the BeforeAllowTraffic
  #   hook's check objects (src/handlers/release-check.ts) and deploy.yml's synthetic traffic, which
  #   invoke TargetVersion so that they reach it whatever its weight. An alarm on the alias's
  #   dimensions alone never saw them: a version failing every synthetic invoke passed the canary.
  canary_dimensions = {
    alias = {
      FunctionName    = aws_lambda_function.this.function_name
      Resource        = "${aws_lambda_function.this.function_name}:${aws_lambda_alias.this.name}"
      ExecutedVersion = local.published_version
    }
    version = {
      FunctionName = aws_lambda_function.this.function_name
      Resource     = "${aws_lambda_function.this.function_name}:${local.published_version}"
    }
  }
  duration_threshold_ms = var.timeout * 1000 * var.alarm_duration_percent_of_timeout / 100
  alarm_actions         = [aws_sns_topic.this.arn]

  # Every single-metric alarm, by the suffix of its name. Two kinds of evaluation:
  # - noisy signals (errors, throttles, durations, event age): 3 datapoints out of 5, so a blip
  #   does not page, a lasting problem does within minutes;
  # - lost events (dead-letter queue, AsyncEventsDropped, DestinationDeliveryFailures, outcome
  #   events or alerts not delivered): 1 of 1, since every datapoint is an event nobody will see.
  # `release = true`: CodeDeploy watches it during a deployment and rolls back when it fires
  # (codedeploy.tf); `notify = false`: only CodeDeploy acts on it. Only the new version's own
  # alarms: one over the whole function counts mostly the version being replaced, so an incident
  # of that version (its errors, its throttling) keeps it in ALARM and CodeDeploy would stop, at
  # once, the very release that fixes it; a healthy canary would be rolled back for it too.
  alarm_evaluation = {
    noisy = { evaluation_periods = 5, datapoints_to_alarm = 3 }
    loss  = { evaluation_periods = 1, datapoints_to_alarm = 1 }
  }
  alarms = {
    errors = {
      evaluation  = "noisy"
      description = "Invocations of ${var.name} that threw in 3 of 5 minutes (S3 errors are retried; bad input is quarantined and does not count)."
      namespace   = "AWS/Lambda", metric = "Errors", dimensions = local.function_dimensions
      statistic   = "Sum", period = 60, threshold = var.alarm_errors_threshold, release = false, notify = true
    }
    throttles = {
      evaluation  = "noisy"
      description = "Invocations of ${var.name} refused for lack of concurrency in 3 of 5 minutes; S3 events are retried for up to maximum_event_age_in_seconds."
      namespace   = "AWS/Lambda", metric = "Throttles", dimensions = local.function_dimensions
      statistic   = "Sum", period = 60, threshold = 0, release = false, notify = true
    }
    duration-p99 = {
      evaluation  = "noisy"
      description = "p99 duration of ${var.name} above ${var.alarm_duration_percent_of_timeout}% of its ${var.timeout} s timeout in 3 of 5 periods of 5 minutes."
      namespace   = "AWS/Lambda", metric = "Duration", dimensions = local.function_dimensions
      statistic   = null, extended_statistic = "p99", period = 300, threshold = local.duration_threshold_ms, release = false, notify = true
    }
    async-event-age = {
      evaluation  = "noisy"
      description = "S3 events waited more than ${var.alarm_async_event_age_seconds} s before ${var.name} ran them (throttling or retries); after ${var.maximum_event_age_in_seconds} s they go to the dead-letter queue."
      namespace   = "AWS/Lambda", metric = "AsyncEventAge", dimensions = local.function_dimensions
      statistic   = "Maximum", period = 60, threshold = var.alarm_async_event_age_seconds * 1000, release = false, notify = true
    }
    dead-letter-queue = {
      evaluation  = "loss"
      description = "Events ${var.name} gave up on are waiting in ${aws_sqs_queue.this.name}; redrive them (terraform/README.md: Dead-letter queue)."
      namespace   = "AWS/SQS", metric = "ApproximateNumberOfMessagesVisible", dimensions = { QueueName = aws_sqs_queue.this.name }
      statistic   = "Maximum", period = 300, threshold = 0, release = false, notify = true
    }
    # Events Lambda dropped without running them to the end (too old, retries exhausted) and
    # could not hand to the dead-letter queue either: lost for good.
    async-events-dropped = {
      evaluation  = "loss"
      description = "S3 events for ${var.name} dropped by Lambda (too old or retried too often) and not delivered anywhere: upload them again or reprocess their keys."
      namespace   = "AWS/Lambda", metric = "AsyncEventsDropped", dimensions = local.function_dimensions
      statistic   = "Sum", period = 300, threshold = 0, release = false, notify = true
    }
    destination-delivery-failures = {
      evaluation  = "loss"
      description = "Lambda could not write failed events of ${var.name} to the dead-letter queue ${aws_sqs_queue.this.name} (its policy or key): those events are lost."
      namespace   = "AWS/Lambda", metric = "DestinationDeliveryFailures", dimensions = local.function_dimensions
      statistic   = "Sum", period = 300, threshold = 0, release = false, notify = true
    }
    # Outcome events the functions could not put after the publisher's retries (EMF metric
    # EventsFailed): the image is processed and its status recorded, but subscribers never hear of
    # it. Every function running the pipeline emits it under the same service dimension.
    events-failed = {
      evaluation  = "loss"
      description = "Outcome events of ${var.name} that could not be put on ${local.event_bus_name} after retries (see terraform/README.md, \"Status, events and image alerts\"). The images themselves are processed."
      namespace   = var.metrics_namespace, metric = "EventsFailed", dimensions = { service = local.service_name }
      statistic   = "Sum", period = 300, threshold = 0, release = false, notify = true
    }
    # Deliveries of the image alerts rule to its topic that failed for good. EventBridge names rules
    # on the default bus by RuleName alone, on other buses by EventBusName and RuleName.
    image-alerts-failed = {
      evaluation  = "loss"
      description = "The ${aws_cloudwatch_event_rule.this.name} rule could not deliver quarantined or failed image events to the ${aws_sns_topic.image_alerts.name} topic."
      namespace   = "AWS/Events", metric = "FailedInvocations"
      dimensions  = local.event_bus_name == "default" ? { RuleName = aws_cloudwatch_event_rule.this.name } : { EventBusName = local.event_bus_name, RuleName = aws_cloudwatch_event_rule.this.name }
      statistic   = "Sum", period = 300, threshold = 0, release = false, notify = true
    }
  }

  # The new version alone, while CodeDeploy shifts traffic (at a 10% weight its errors would be lost
  # in the function-wide numbers), through the alias and invoked as itself (canary_dimensions): one
  # series per source, combined by `expression`. CodeDeploy watches them (release = true).
  canary_alarms = {
    canary-errors = {
      description = "Errors of version ${local.published_version} of ${var.name}, behind the live alias or invoked as itself (release checks, synthetic traffic), in 3 of 5 minutes."
      metric      = "Errors", stat = "Sum", threshold = 0
      expression  = "FILL(alias, 0) + FILL(version, 0)"
      release     = true
    }
    # p99s cannot be added: the higher of the two, each over its own invocations.
    canary-duration-p99 = {
      description = "p99 duration of version ${local.published_version} of ${var.name}, behind the live alias or invoked as itself, above ${var.alarm_duration_percent_of_timeout}% of the timeout, in 3 of 5 minutes."
      metric      = "Duration", stat = "p99", threshold = local.duration_threshold_ms
      expression  = "MAX([FILL(alias, 0), FILL(version, 0)])"
      release     = true
    }
  }

  # In the workflow mode (source_events_to_eventbridge) the source bucket's deletions reach the
  # function through the source-deleted rule (s3.tf). A delivery that failed for good (refused, or
  # still throttled after a day of retries) is a removal not recorded, its outputs and manifest
  # left published, until the event in the rule's dead-letter queue (sqs.tf) is handed back to the
  # function; one EventBridge could not put in that queue either is lost. The rule is on the
  # default bus, where EventBridge names a rule's metrics by RuleName alone. These alarms are
  # created with that rule alone (the resource's for_each).
  source_deleted_alarms = {
    source-deleted-failed = {
      evaluation  = "loss"
      description = "The ${local.source_deleted_rule_name} rule could not deliver Object Deleted events of ${local.bucket_names.source} to ${var.name}: those removals are not recorded and, with delete_outputs, their outputs and manifests are still published until the events in ${local.source_deleted_dlq_name} are handed back (terraform/README.md: Dead-letter queue)."
      namespace   = "AWS/Events", metric = "FailedInvocations", dimensions = { RuleName = local.source_deleted_rule_name }
      statistic   = "Sum", period = 300, threshold = 0, release = false, notify = true
    }
    source-deleted-dead-letter-queue = {
      evaluation  = "loss"
      description = "Object Deleted events the ${local.source_deleted_rule_name} rule could not deliver to ${var.name} are waiting in ${local.source_deleted_dlq_name}: their removals are not recorded until they are handed back (terraform/README.md: Dead-letter queue)."
      namespace   = "AWS/SQS", metric = "ApproximateNumberOfMessagesVisible", dimensions = { QueueName = local.source_deleted_dlq_name }
      statistic   = "Maximum", period = 300, threshold = 0, release = false, notify = true
    }
    source-deleted-dead-letter-failed = {
      evaluation  = "loss"
      description = "The ${local.source_deleted_rule_name} rule could not put undelivered Object Deleted events of ${local.bucket_names.source} in ${local.source_deleted_dlq_name} (its policy or key): those removals are lost. Find the keys in CloudTrail or the bucket and delete them again."
      namespace   = "AWS/Events", metric = "InvocationsFailedToBeSentToDlq", dimensions = { RuleName = local.source_deleted_rule_name }
      statistic   = "Sum", period = 300, threshold = 0, release = false, notify = true
    }
  }

  # Ratios of outcomes (EMF metrics of src/handlers/objects.ts), function-wide and for the new
  # version (dimension `version`, `<function name>:<version>`, which the workflow's task functions,
  # numbering their versions on their own, never share): a release that quarantines every
  # valid photo throws nothing, so only these see it. A period with fewer than
  # alarm_ratio_min_objects objects counts as 0 for the function-wide ones; for the new version the
  # release check's own objects are enough (min 1), since they are its first traffic.
  outcome_metrics = { p = "ObjectsProcessed", d = "ObjectsDuplicate", q = "ObjectsQuarantined", f = "ObjectsFailed" }
  ratio_alarms = {
    quarantine-ratio = { numerator = "q", threshold = var.alarm_quarantine_ratio, dimensions = { service = local.service_name }, period = 300, min = var.alarm_ratio_min_objects, release = false, notify = true, what = "quarantined" }
    failure-ratio    = { numerator = "f", threshold = var.alarm_failure_ratio, dimensions = { service = local.service_name }, period = 300, min = var.alarm_ratio_min_objects, release = false, notify = true, what = "failed" }
    canary-quarantine-ratio = {
      numerator = "q", threshold = var.alarm_quarantine_ratio, dimensions = { service = local.service_name, version = "${var.name}:${local.published_version}" }
      period    = 60, min = 1, release = true, notify = false, what = "quarantined by version ${local.published_version}"
    }
    canary-failure-ratio = {
      numerator = "f", threshold = var.alarm_failure_ratio, dimensions = { service = local.service_name, version = "${var.name}:${local.published_version}" }
      period    = 60, min = 1, release = true, notify = false, what = "failed in version ${local.published_version}"
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "this" {
  for_each = merge(local.alarms, { for key, alarm in local.source_deleted_alarms : key => alarm if var.source_events_to_eventbridge })

  alarm_name          = "${var.name}-${each.key}"
  alarm_description   = each.value.description
  namespace           = each.value.namespace
  metric_name         = each.value.metric
  dimensions          = each.value.dimensions
  statistic           = each.value.statistic
  extended_statistic  = lookup(each.value, "extended_statistic", null)
  period              = each.value.period
  evaluation_periods  = local.alarm_evaluation[each.value.evaluation].evaluation_periods
  datapoints_to_alarm = local.alarm_evaluation[each.value.evaluation].datapoints_to_alarm
  comparison_operator = "GreaterThanThreshold"
  threshold           = each.value.threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = each.value.notify ? local.alarm_actions : []
  ok_actions          = each.value.notify ? local.alarm_actions : []
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "canary" {
  for_each = local.canary_alarms

  alarm_name          = "${var.name}-${each.key}"
  alarm_description   = each.value.description
  evaluation_periods  = local.alarm_evaluation.noisy.evaluation_periods
  datapoints_to_alarm = local.alarm_evaluation.noisy.datapoints_to_alarm
  comparison_operator = "GreaterThanThreshold"
  threshold           = each.value.threshold
  treat_missing_data  = "notBreaching"
  # Only CodeDeploy acts on them (notify = false).
  alarm_actions = []
  ok_actions    = []
  tags          = var.tags

  metric_query {
    id          = "canary"
    expression  = each.value.expression
    label       = "${each.value.metric} of version ${local.published_version}"
    return_data = true
  }

  dynamic "metric_query" {
    for_each = local.canary_dimensions

    content {
      id = metric_query.key

      metric {
        namespace   = "AWS/Lambda"
        metric_name = each.value.metric
        dimensions  = metric_query.value
        stat        = each.value.stat
        period      = 60
      }
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "ratio" {
  for_each = local.ratio_alarms

  alarm_name          = "${var.name}-${each.key}"
  alarm_description   = "Share of objects ${each.value.what} above ${each.value.threshold} in 3 of 5 periods of ${each.value.period} s (periods with fewer than ${each.value.min} objects count as 0)."
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = each.value.threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = each.value.notify ? local.alarm_actions : []
  ok_actions          = each.value.notify ? local.alarm_actions : []
  tags                = var.tags

  metric_query {
    id          = "ratio"
    expression  = "IF(total >= ${each.value.min}, FILL(${each.value.numerator}, 0) / total, 0)"
    label       = "Share ${each.value.what}"
    return_data = true
  }

  metric_query {
    id         = "total"
    expression = "FILL(p, 0) + FILL(d, 0) + FILL(q, 0) + FILL(f, 0)"
    label      = "Objects"
  }

  dynamic "metric_query" {
    for_each = local.outcome_metrics

    content {
      id = metric_query.key

      metric {
        namespace   = var.metrics_namespace
        metric_name = metric_query.value
        dimensions  = each.value.dimensions
        stat        = "Sum"
        period      = each.value.period
      }
    }
  }
}

# The single alarms of earlier versions of this module, now entries of the maps above.
# The canary alarms read one metric each before they read the version's own invocations too.
moved {
  from = aws_cloudwatch_metric_alarm.this["canary-errors"]
  to   = aws_cloudwatch_metric_alarm.canary["canary-errors"]
}

moved {
  from = aws_cloudwatch_metric_alarm.this["canary-duration-p99"]
  to   = aws_cloudwatch_metric_alarm.canary["canary-duration-p99"]
}

moved {
  from = aws_cloudwatch_metric_alarm.errors
  to   = aws_cloudwatch_metric_alarm.this["errors"]
}

moved {
  from = aws_cloudwatch_metric_alarm.throttles
  to   = aws_cloudwatch_metric_alarm.this["throttles"]
}

moved {
  from = aws_cloudwatch_metric_alarm.duration_p99
  to   = aws_cloudwatch_metric_alarm.this["duration-p99"]
}

moved {
  from = aws_cloudwatch_metric_alarm.dead_letter_queue
  to   = aws_cloudwatch_metric_alarm.this["dead-letter-queue"]
}

moved {
  from = aws_cloudwatch_metric_alarm.async_event_age
  to   = aws_cloudwatch_metric_alarm.this["async-event-age"]
}

moved {
  from = aws_cloudwatch_metric_alarm.events_failed
  to   = aws_cloudwatch_metric_alarm.this["events-failed"]
}

moved {
  from = aws_cloudwatch_metric_alarm.image_alerts_failed
  to   = aws_cloudwatch_metric_alarm.this["image-alerts-failed"]
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
  evaluation_periods  = 5
  datapoints_to_alarm = 3
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

locals {
  emf_dimensions = ["service", local.service_name]
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
        for name in ["ObjectsProcessed", "ObjectsDuplicate", "ObjectsQuarantined", "ObjectsMissing", "ObjectsDeleted", "ObjectsIgnored", "ObjectsFailed"] :
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
      metrics = [[var.metrics_namespace, "ColdStart", "function_name", local.fn, "service", local.service_name, { stat = "Sum" }]]
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
    ] : [], var.source_events_to_eventbridge ? [
    # The workflow mode's deletions (s3.tf), with their alarms' metrics: deliveries that failed,
    # events waiting in the rule's own dead-letter queue, and those that could not be put there.
    {
      title = "Source deletions (EventBridge rule)"
      metrics = [
        ["AWS/Events", "Invocations", "RuleName", local.source_deleted_rule_name, { stat = "Sum", label = "Deletions delivered" }],
        ["AWS/Events", "FailedInvocations", "RuleName", local.source_deleted_rule_name, { stat = "Sum", label = "Deletions not delivered" }],
        ["AWS/Events", "InvocationsFailedToBeSentToDlq", "RuleName", local.source_deleted_rule_name, { stat = "Sum", label = "Not put in the dead-letter queue" }],
        ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", local.source_deleted_dlq_name, { stat = "Maximum", label = "Dead-letter queue" }],
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
