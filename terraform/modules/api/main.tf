data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.region
  partition  = data.aws_partition.current.partition

  function_name  = "${var.name}-api"
  log_group_name = "/aws/lambda/${local.function_name}"
  log_group_arn  = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.log_group_name}"
  # API Gateway's access logs.
  access_log_group_name = "/aws/apigateway/${var.name}-api"
  access_log_group_arn  = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.access_log_group_name}"

  # The routes of src/handlers/http.ts (ROUTES); test/terraform/api.test.ts holds the two together.
  routes = toset(["POST /uploads", "GET /images", "GET /images/{key+}", "DELETE /images/{key+}"])
  # Uploads' own limit holds unless route_throttling names the route: limits of other routes add to it.
  route_throttling = merge({ "POST /uploads" = { rate_limit = 10, burst_limit = 20 } }, var.route_throttling)

  auth_configured = var.create_cognito_user_pool || var.jwt_issuer != null
  jwt_issuer      = var.create_cognito_user_pool ? "https://${aws_cognito_user_pool.this[0].endpoint}" : var.jwt_issuer
  jwt_audience    = var.create_cognito_user_pool ? [aws_cognito_user_pool_client.this[0].id] : var.jwt_audience

  # The output bucket's keys the API reads: the manifests and outputs under the output prefix.
  output_prefix = lookup(var.function_environment, "IMGPIPE_OUTPUT_PREFIX", "")
  # The pipeline document may live in Parameter Store (modules/imgpipe, pipeline_config_parameter_name).
  config_parameter     = lookup(var.function_environment, "IMGPIPE_CONFIG_PARAMETER", null)
  config_parameter_arn = local.config_parameter == null ? null : "arn:${local.partition}:ssm:${local.region}:${local.account_id}:parameter/${trimprefix(local.config_parameter, "/")}"

  # The processing function's environment (same document, buckets, table) without what the API
  # does not use, nor IMGPIPE_MEMORY_MB, that function's memory budget (this one has memory_size:
  # a budget over it stops the init), and the API's own settings (src/config/settings.ts, API_SETTINGS).
  # IMGPIPE_DELETE_OUTPUTS stays: the API deletes no output, but DELETE /images says whether the
  # processing function will.
  environment = merge(
    { for name, value in var.function_environment : name => value if !contains(["IMGPIPE_EVENT_BUS", "IMGPIPE_WORKERS", "IMGPIPE_MEMORY_MB"], name) },
    {
      POWERTOOLS_METRICS_FUNCTION_NAME = local.function_name
      POWERTOOLS_TRACE_ENABLED         = tostring(var.tracing_enabled)
      IMGPIPE_UPLOAD_BUCKET            = var.source_bucket_id
      IMGPIPE_UPLOAD_PREFIX            = var.upload_prefix
      IMGPIPE_UPLOAD_EXPIRES_SECONDS   = tostring(var.upload_expires_seconds)
      IMGPIPE_DOWNLOAD_EXPIRES_SECONDS = tostring(var.download_expires_seconds)
      IMGPIPE_ADMIN_GROUP              = var.admin_group
      IMGPIPE_ADMIN_SCOPE              = var.admin_scope
      IMGPIPE_API_ANONYMOUS            = tostring(var.allow_anonymous && !local.auth_configured)
    },
    var.cdn_url == null ? {} : { IMGPIPE_CDN_URL = var.cdn_url },
  )

  # Lambda refuses an environment over 4 KB, measured as its variables' JSON (../imgpipe/main.tf,
  # lambda_environment_limit): the processing function's, which this one adds to, may fit where
  # this one does not.
  environment_bytes = length(replace(replace(replace(jsonencode(local.environment), "\\u003c", "<"), "\\u003e", ">"), "\\u0026", "&"))

  # The web page's origin (CloudFront), allowed by CORS on the API and the source bucket.
  web_enabled  = var.web_dir != null
  web_origin   = local.web_enabled ? "https://${aws_cloudfront_distribution.this[0].domain_name}" : null
  cors_origins = distinct(concat(local.web_enabled ? [local.web_origin] : [], var.cors_allowed_origins))
  # Known at plan time, unlike the distribution's domain in cors_origins.
  cors_enabled   = local.web_enabled || length(var.cors_allowed_origins) > 0
  api_url        = var.domain_name == null ? aws_apigatewayv2_api.this.api_endpoint : "https://${var.domain_name}"
  cognito_domain = var.create_cognito_user_pool ? "https://${aws_cognito_user_pool_domain.this[0].domain}.auth.${local.region}.amazoncognito.com" : null
}
