locals {
  alarm_actions = var.alarm_topic_arn == null ? [] : [var.alarm_topic_arn]
}

locals {
  # The alarms in the deployment's region, one entry each: the function's 5xx answers, its
  # failures, its throttles, and its p90 duration.
  alarms = {
    # The function answered 5xx (never for bad parameters: a bug, a broken dependency, or busy).
    "5xx" = {
      description = "index.transform answered 5xx (TransformServerErrors). Its log group has the request ids."
      namespace   = lookup(var.function_environment, "POWERTOOLS_METRICS_NAMESPACE", "imgpipe"), metric = "TransformServerErrors"
      dimensions  = { service = lookup(var.function_environment, "POWERTOOLS_SERVICE_NAME", "imgpipe") }
      statistic   = "Sum", extended_statistic = null, evaluation_periods = 1, threshold = var.alarm_5xx_threshold, comparison = "GreaterThanOrEqualToThreshold"
    }
    # The function failed outright (Lambda's own errors: CloudFront then answers 502).
    errors = {
      description = "The transformation function failed or timed out (CloudFront answers 502/504)."
      namespace   = "AWS/Lambda", metric = "Errors", dimensions = { FunctionName = aws_lambda_function.this.function_name }
      statistic   = "Sum", extended_statistic = null, evaluation_periods = 1, threshold = 1, comparison = "GreaterThanOrEqualToThreshold"
    }
    # Requests refused for want of concurrency (beyond reserved_concurrency, or the account's):
    # the function never sees them, so neither TransformServerErrors nor Errors counts them.
    throttles = {
      description = "Lambda refused requests to the transformation function for want of concurrency (Throttles): viewers were answered 429 or 503. Raise reserved_concurrency, or look for a flood of misses."
      namespace   = "AWS/Lambda", metric = "Throttles", dimensions = { FunctionName = aws_lambda_function.this.function_name }
      statistic   = "Sum", extended_statistic = null, evaluation_periods = 1, threshold = var.alarm_throttles_threshold, comparison = "GreaterThanOrEqualToThreshold"
    }
    # Origin latency: what the distribution waits for on a miss is the function's duration (and
    # the network). CloudFront's own OriginLatency metric exists only in us-east-1; the function's
    # p90 duration is in this region, beside the rest of the deployment's alarms.
    origin-latency = {
      description = "The transformation function's p90 duration (CloudFront's origin latency on misses) was over ${var.alarm_origin_latency_ms} ms for 15 minutes: large sources, slow formats, or too little memory."
      namespace   = "AWS/Lambda", metric = "Duration", dimensions = { FunctionName = aws_lambda_function.this.function_name }
      statistic   = null, extended_statistic = "p90", evaluation_periods = 3, threshold = var.alarm_origin_latency_ms, comparison = "GreaterThanThreshold"
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "this" {
  for_each = local.alarms

  alarm_name          = "${var.name}-transform-${each.key}"
  alarm_description   = each.value.description
  namespace           = each.value.namespace
  metric_name         = each.value.metric
  dimensions          = each.value.dimensions
  statistic           = each.value.statistic
  extended_statistic  = each.value.extended_statistic
  period              = 300
  evaluation_periods  = each.value.evaluation_periods
  threshold           = each.value.threshold
  comparison_operator = each.value.comparison
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

moved {
  from = aws_cloudwatch_metric_alarm.server_errors
  to   = aws_cloudwatch_metric_alarm.this["5xx"]
}

moved {
  from = aws_cloudwatch_metric_alarm.function_errors
  to   = aws_cloudwatch_metric_alarm.this["errors"]
}

moved {
  from = aws_cloudwatch_metric_alarm.origin_latency
  to   = aws_cloudwatch_metric_alarm.this["origin-latency"]
}

################################################################################
# CloudFront's own metrics: in us-east-1 (provider aws.us_east_1), for the distribution as viewers
# see it. OriginLatency is one of the additional metrics, which the monitoring subscription turns on
# (charged per distribution and month); 5xxErrorRate is standard.
################################################################################

resource "aws_cloudfront_monitoring_subscription" "this" {
  distribution_id = aws_cloudfront_distribution.this.id

  monitoring_subscription {
    realtime_metrics_subscription_config {
      realtime_metrics_subscription_status = "Enabled"
    }
  }
}

# A CloudWatch alarm notifies topics of its own region only: the CloudFront alarms publish to
# cloudfront_alarm_topic_arn, or to a topic made here in us-east-1, encrypted with its own key
# (kms.tf; the deployment's key and topic are in the deployment's region), with alarm_email
# subscribed.
locals {
  create_cloudfront_topic  = var.cloudfront_alarm_topic_arn == null
  cloudfront_alarm_actions = local.create_cloudfront_topic ? [aws_sns_topic.this[0].arn] : [var.cloudfront_alarm_topic_arn]
}

resource "aws_sns_topic" "this" {
  count    = local.create_cloudfront_topic ? 1 : 0
  provider = aws.us_east_1

  name              = "${var.name}-transform-cloudfront-alarms"
  kms_master_key_id = module.kms[0].key_arn
  tags              = var.tags
}

# As the deployment's alarm topic (modules/imgpipe): the account manages it, and CloudWatch publishes
# for this module's CloudFront alarms alone, not SNS's default policy that lets every principal
# acting for the account publish and subscribe.
data "aws_iam_policy_document" "cloudfront_topic" {
  count = local.create_cloudfront_topic ? 1 : 0

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
    resources = [aws_sns_topic.this[0].arn]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid       = "CloudWatchAlarmsPublish"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.this[0].arn]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:cloudwatch:us-east-1:${local.account_id}:alarm:${var.name}-transform-cloudfront-*"]
    }
  }
}

resource "aws_sns_topic_policy" "this" {
  count    = local.create_cloudfront_topic ? 1 : 0
  provider = aws.us_east_1

  arn    = aws_sns_topic.this[0].arn
  policy = data.aws_iam_policy_document.cloudfront_topic[0].json
}

resource "aws_sns_topic_subscription" "this" {
  count    = local.create_cloudfront_topic && var.alarm_email != null ? 1 : 0
  provider = aws.us_east_1

  topic_arn = aws_sns_topic.this[0].arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

locals {
  cloudfront_alarms = {
    # The distribution's p90 wait for its origins (the function on a miss, the bucket for a
    # redirected result); cache hits do not count.
    cloudfront-origin-latency = {
      description = "CloudFront's p90 origin latency for the transformation distribution ${aws_cloudfront_distribution.this.id} was over ${var.alarm_origin_latency_ms} ms for 15 minutes: misses on large sources, slow formats, or too little memory."
      metric      = "OriginLatency", statistic = null, extended_statistic = "p90", evaluation_periods = 3, threshold = var.alarm_origin_latency_ms
    }
    # The share of viewer requests answered 5xx, the function's and CloudFront's own (502/504
    # when the function fails or times out).
    cloudfront-5xx-rate = {
      description = "Over ${var.alarm_5xx_rate_percent}% of the transformation distribution ${aws_cloudfront_distribution.this.id}'s requests were answered 5xx for 10 minutes."
      metric      = "5xxErrorRate", statistic = "Average", extended_statistic = null, evaluation_periods = 2, threshold = var.alarm_5xx_rate_percent
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "cloudfront" {
  for_each = local.cloudfront_alarms
  provider = aws.us_east_1

  alarm_name          = "${var.name}-transform-${each.key}"
  alarm_description   = each.value.description
  namespace           = "AWS/CloudFront"
  metric_name         = each.value.metric
  dimensions          = { DistributionId = aws_cloudfront_distribution.this.id, Region = "Global" }
  statistic           = each.value.statistic
  extended_statistic  = each.value.extended_statistic
  period              = 300
  evaluation_periods  = each.value.evaluation_periods
  threshold           = each.value.threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.cloudfront_alarm_actions
  ok_actions          = local.cloudfront_alarm_actions
  tags                = var.tags

  # OriginLatency is published only with the subscription.
  depends_on = [aws_cloudfront_monitoring_subscription.this]
}

moved {
  from = aws_cloudwatch_metric_alarm.cloudfront_origin_latency
  to   = aws_cloudwatch_metric_alarm.cloudfront["cloudfront-origin-latency"]
}

moved {
  from = aws_cloudwatch_metric_alarm.cloudfront_5xx_rate
  to   = aws_cloudwatch_metric_alarm.cloudfront["cloudfront-5xx-rate"]
}
