locals {
  alarm_actions = var.alarm_topic_arn == null ? [] : [var.alarm_topic_arn]
}

# The function answered 5xx (never for bad parameters: a bug, a broken dependency, or busy).
resource "aws_cloudwatch_metric_alarm" "server_errors" {
  alarm_name          = "${var.name}-transform-5xx"
  alarm_description   = "index.transform answered 5xx (TransformServerErrors). Its log group has the request ids."
  namespace           = lookup(var.function_environment, "POWERTOOLS_METRICS_NAMESPACE", "imgpipe")
  metric_name         = "TransformServerErrors"
  dimensions          = { service = lookup(var.function_environment, "POWERTOOLS_SERVICE_NAME", "imgpipe") }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.alarm_5xx_threshold
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

# The function failed outright (Lambda's own errors: CloudFront then answers 502).
resource "aws_cloudwatch_metric_alarm" "function_errors" {
  alarm_name          = "${var.name}-transform-errors"
  alarm_description   = "The transformation function failed or timed out (CloudFront answers 502/504)."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.this.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

# Origin latency: what the distribution waits for on a miss is the function's duration (and the
# network). CloudFront's own OriginLatency metric exists only in us-east-1; the function's p90
# duration is in this region, beside the rest of the deployment's alarms.
resource "aws_cloudwatch_metric_alarm" "origin_latency" {
  alarm_name          = "${var.name}-transform-origin-latency"
  alarm_description   = "The transformation function's p90 duration (CloudFront's origin latency on misses) was over ${var.alarm_origin_latency_ms} ms for 15 minutes: large sources, slow formats, or too little memory."
  namespace           = "AWS/Lambda"
  metric_name         = "Duration"
  dimensions          = { FunctionName = aws_lambda_function.this.function_name }
  extended_statistic  = "p90"
  period              = 300
  evaluation_periods  = 3
  threshold           = var.alarm_origin_latency_ms
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}
