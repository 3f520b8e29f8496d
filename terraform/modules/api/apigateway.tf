resource "aws_apigatewayv2_api" "this" {
  name          = "${var.name}-api"
  description   = "imgpipe HTTP API: presigned uploads, image status and outputs, deletion"
  protocol_type = "HTTP"
  tags          = var.tags

  # API Gateway answers preflights and adds the headers; the function never sees OPTIONS.
  dynamic "cors_configuration" {
    for_each = local.cors_enabled ? [1] : []

    content {
      allow_origins     = local.cors_origins
      allow_methods     = ["GET", "POST", "DELETE"]
      allow_headers     = ["authorization", "content-type"]
      expose_headers    = ["location", "retry-after"]
      allow_credentials = var.cors_allow_credentials
      max_age           = 600
    }
  }

  lifecycle {
    precondition {
      condition     = local.auth_configured || var.allow_anonymous
      error_message = "The API has no authentication: set create_cognito_user_pool = true, or jwt_issuer and jwt_audience, or deploy it open to anyone with allow_anonymous = true."
    }

    precondition {
      condition     = !(var.cors_allow_credentials && contains(var.cors_allowed_origins, "*"))
      error_message = "cors_allowed_origins cannot hold * with cors_allow_credentials = true: browsers refuse it, and it would let any site call the API with a user's credentials."
    }

    precondition {
      condition     = var.jwt_issuer == null || length(var.jwt_audience) > 0
      error_message = "jwt_issuer needs jwt_audience: the client ids whose tokens the API accepts."
    }

    # The page signs in with the user pool's endpoints, or web_auth's; without either its
    # config.json says no sign-in is needed, and the authorizer answers every request 401.
    precondition {
      condition     = !(local.web_enabled && var.jwt_issuer != null && var.web_auth == null)
      error_message = "web_dir with jwt_issuer needs web_auth (the issuer's authorize_url and token_url, the page's client_id and scope): without it the page is told no sign-in is needed, and every request it makes is answered 401."
    }

    precondition {
      condition     = !(var.create_cognito_user_pool && var.jwt_issuer != null)
      error_message = "Set either create_cognito_user_pool or jwt_issuer, not both."
    }
  }
}

# API Gateway verifies every token (signature against the issuer's JWKS, issuer, audience or
# client_id, expiry) before the function runs, and passes the claims in the event.
resource "aws_apigatewayv2_authorizer" "this" {
  count = local.auth_configured ? 1 : 0

  api_id           = aws_apigatewayv2_api.this.id
  name             = "jwt"
  authorizer_type  = "JWT"
  identity_sources = ["$request.header.Authorization"]

  jwt_configuration {
    issuer   = local.jwt_issuer
    audience = local.jwt_audience
  }
}

resource "aws_apigatewayv2_integration" "this" {
  api_id                 = aws_apigatewayv2_api.this.id
  integration_type       = "AWS_PROXY"
  integration_uri        = aws_lambda_function.this.invoke_arn
  payload_format_version = "2.0"
  timeout_milliseconds   = var.timeout * 1000
}

resource "aws_apigatewayv2_route" "this" {
  for_each = local.routes

  api_id             = aws_apigatewayv2_api.this.id
  route_key          = each.value
  target             = "integrations/${aws_apigatewayv2_integration.this.id}"
  authorization_type = local.auth_configured ? "JWT" : "NONE"
  authorizer_id      = local.auth_configured ? aws_apigatewayv2_authorizer.this[0].id : null
}

resource "aws_cloudwatch_log_group" "access" {
  name              = local.access_log_group_name
  retention_in_days = var.log_retention_in_days
  kms_key_id        = module.kms.key_arn
  tags              = var.tags
}

resource "aws_apigatewayv2_stage" "this" {
  api_id      = aws_apigatewayv2_api.this.id
  name        = "$default"
  auto_deploy = true
  tags        = var.tags

  default_route_settings {
    throttling_rate_limit  = var.throttling_rate_limit
    throttling_burst_limit = var.throttling_burst_limit
  }

  dynamic "route_settings" {
    for_each = local.route_throttling

    content {
      route_key              = route_settings.key
      throttling_rate_limit  = route_settings.value.rate_limit
      throttling_burst_limit = route_settings.value.burst_limit
    }
  }

  # One JSON line per request.
  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.access.arn
    format = jsonencode({
      requestId          = "$context.requestId"
      time               = "$context.requestTime"
      ip                 = "$context.identity.sourceIp"
      userAgent          = "$context.identity.userAgent"
      method             = "$context.httpMethod"
      path               = "$context.path"
      routeKey           = "$context.routeKey"
      status             = "$context.status"
      responseLength     = "$context.responseLength"
      latencyMs          = "$context.responseLatency"
      integrationStatus  = "$context.integrationStatus"
      integrationLatency = "$context.integrationLatency"
      integrationError   = "$context.integrationErrorMessage"
      authorizerError    = "$context.authorizer.error"
      sub                = "$context.authorizer.claims.sub"
    })
  }

  depends_on = [aws_apigatewayv2_route.this]
}

resource "aws_apigatewayv2_domain_name" "this" {
  count = var.domain_name == null ? 0 : 1

  domain_name = var.domain_name
  tags        = var.tags

  domain_name_configuration {
    certificate_arn = var.certificate_arn
    endpoint_type   = "REGIONAL"
    security_policy = "TLS_1_2"
  }
}

resource "aws_apigatewayv2_api_mapping" "this" {
  count = var.domain_name == null ? 0 : 1

  api_id      = aws_apigatewayv2_api.this.id
  domain_name = aws_apigatewayv2_domain_name.this[0].id
  stage       = aws_apigatewayv2_stage.this.id
}
