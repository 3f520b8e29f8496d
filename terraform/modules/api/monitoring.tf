locals {
  api_dimensions = { ApiId = aws_apigatewayv2_api.this.id, Stage = "$default" }
  alarm_actions  = var.alarm_topic_arn == null ? [] : [var.alarm_topic_arn]
  alarm_names = {
    server_errors = "${var.name}-api-5xx"
    client_errors = "${var.name}-api-4xx-rate"
    latency       = "${var.name}-api-latency-p99"
  }
}

resource "aws_cloudwatch_metric_alarm" "server_errors" {
  alarm_name          = local.alarm_names.server_errors
  alarm_description   = "The API answered 5xx (the function failed or timed out, or API Gateway could not reach it). Its log group has the request ids."
  namespace           = "AWS/ApiGateway"
  metric_name         = "5xx"
  dimensions          = local.api_dimensions
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

resource "aws_cloudwatch_metric_alarm" "client_errors" {
  alarm_name          = local.alarm_names.client_errors
  alarm_description   = "More than ${var.alarm_4xx_rate_threshold * 100}% of requests answered 4xx over 15 minutes (expired tokens, a broken client, probing)."
  evaluation_periods  = 3
  threshold           = var.alarm_4xx_rate_threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags

  metric_query {
    id          = "rate"
    expression  = "IF(requests >= 20, errors / requests, 0)"
    label       = "4xx share"
    return_data = true
  }

  metric_query {
    id = "errors"

    metric {
      namespace   = "AWS/ApiGateway"
      metric_name = "4xx"
      dimensions  = local.api_dimensions
      stat        = "Sum"
      period      = 300
    }
  }

  metric_query {
    id = "requests"

    metric {
      namespace   = "AWS/ApiGateway"
      metric_name = "Count"
      dimensions  = local.api_dimensions
      stat        = "Sum"
      period      = 300
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "latency" {
  alarm_name          = local.alarm_names.latency
  alarm_description   = "p99 latency of the API above ${var.alarm_latency_p99_ms} ms over 5 minutes."
  namespace           = "AWS/ApiGateway"
  metric_name         = "Latency"
  dimensions          = local.api_dimensions
  extended_statistic  = "p99"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.alarm_latency_p99_ms
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = "${var.name}-api"
  dashboard_body = jsonencode({
    widgets = [
      {
        type = "metric", x = 0, y = 0, width = 12, height = 6
        properties = {
          title   = "Requests and errors"
          region  = local.region
          stat    = "Sum"
          period  = 60
          metrics = [for name in ["Count", "4xx", "5xx"] : ["AWS/ApiGateway", name, "ApiId", aws_apigatewayv2_api.this.id, "Stage", "$default"]]
        }
      },
      {
        type = "metric", x = 12, y = 0, width = 12, height = 6
        properties = {
          title  = "Latency (ms)"
          region = local.region
          period = 60
          metrics = [
            ["AWS/ApiGateway", "Latency", "ApiId", aws_apigatewayv2_api.this.id, "Stage", "$default", { stat = "p50" }],
            ["AWS/ApiGateway", "Latency", "ApiId", aws_apigatewayv2_api.this.id, "Stage", "$default", { stat = "p99" }],
            ["AWS/ApiGateway", "IntegrationLatency", "ApiId", aws_apigatewayv2_api.this.id, "Stage", "$default", { stat = "p99" }],
          ]
        }
      },
      {
        type = "metric", x = 0, y = 6, width = 12, height = 6
        properties = {
          title  = "API function"
          region = local.region
          stat   = "Sum"
          period = 60
          metrics = [
            ["AWS/Lambda", "Invocations", "FunctionName", aws_lambda_function.this.function_name],
            ["AWS/Lambda", "Errors", "FunctionName", aws_lambda_function.this.function_name],
            ["AWS/Lambda", "Throttles", "FunctionName", aws_lambda_function.this.function_name],
          ]
        }
      },
      {
        type = "alarm", x = 12, y = 6, width = 12, height = 6
        properties = {
          title  = "API alarms"
          alarms = [aws_cloudwatch_metric_alarm.server_errors.arn, aws_cloudwatch_metric_alarm.client_errors.arn, aws_cloudwatch_metric_alarm.latency.arn]
        }
      },
    ]
  })
}
