output "api_id" {
  description = "ID of the HTTP API."
  value       = aws_apigatewayv2_api.this.id
}

output "api_execution_arn" {
  description = "Execution ARN of the HTTP API (the function's permission is scoped to it)."
  value       = aws_apigatewayv2_api.this.execution_arn
}

output "api_url" {
  description = "Base URL of the API: the custom domain when set, else the execute-api endpoint."
  value       = local.api_url
}

output "lambda_function_name" {
  description = "Name of the API function (index.api)."
  value       = aws_lambda_function.this.function_name
}

output "lambda_function_arn" {
  description = "ARN of the API function."
  value       = aws_lambda_function.this.arn
}

output "lambda_role_arn" {
  description = "ARN of the API function's role."
  value       = aws_iam_role.this.arn
}

output "access_log_group_name" {
  description = "Log group of the API's JSON access logs."
  value       = aws_cloudwatch_log_group.access.name
}

output "cognito_user_pool_id" {
  description = "User pool ID, or null when create_cognito_user_pool is false."
  value       = var.create_cognito_user_pool ? aws_cognito_user_pool.this[0].id : null
}

output "cognito_user_pool_client_id" {
  description = "App client ID of the web page (the authorizer's audience), or null."
  value       = var.create_cognito_user_pool ? aws_cognito_user_pool_client.this[0].id : null
}

output "cognito_domain_url" {
  description = "Hosted sign-in domain of the user pool, or null."
  value       = local.cognito_domain
}

output "web_url" {
  description = "URL of the web page (CloudFront), or null without web_dir."
  value       = local.web_enabled ? "${local.web_origin}/" : null
}

output "web_bucket_id" {
  description = "Bucket of the web page, or null."
  value       = local.web_enabled ? module.web_bucket[0].s3_bucket_id : null
}

output "cloudfront_distribution_id" {
  description = "Distribution of the web page (invalidate it after changing the page), or null."
  value       = local.web_enabled ? aws_cloudfront_distribution.this[0].id : null
}

output "cloudwatch_metric_alarm_names" {
  description = "The API's alarms: 5xx, 4xx share, p99 latency."
  value       = values(local.alarm_names)
}

output "cloudwatch_dashboard_name" {
  description = "The API's dashboard."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}
