# The web page: a private bucket behind CloudFront with origin access control, and config.json
# telling the page where the API and the sign-in endpoints are.
locals {
  web_bucket_name = "${var.name}-web-${local.account_id}"
  web_files       = local.web_enabled ? fileset(var.web_dir, "**") : toset([])
  content_types = {
    html = "text/html; charset=utf-8"
    js   = "text/javascript; charset=utf-8"
    css  = "text/css; charset=utf-8"
    json = "application/json"
    svg  = "image/svg+xml"
    png  = "image/png"
    ico  = "image/x-icon"
  }
  web_auth = var.create_cognito_user_pool ? {
    authorizeUrl = "${local.cognito_domain}/oauth2/authorize"
    tokenUrl     = "${local.cognito_domain}/oauth2/token"
    # Sign out ends the hosted sign-in's session too: without it the next Sign in at that browser
    # was given the previous user's token without a prompt. Its logout_uri is one of the client's
    # logout_urls (the page's folder).
    logoutUrl = "${local.cognito_domain}/logout"
    clientId  = aws_cognito_user_pool_client.this[0].id
    scope     = "openid email"
    } : var.web_auth == null ? null : {
    authorizeUrl = var.web_auth.authorize_url
    tokenUrl     = var.web_auth.token_url
    # Sign out reads the end_session_endpoint of this issuer's discovery document (RP-Initiated
    # Logout): without it the issuer's session stayed, and the next Sign in at that browser was
    # given the previous user's token without a prompt.
    issuer   = var.jwt_issuer
    clientId = var.web_auth.client_id
    scope    = var.web_auth.scope
  }
}

# Private, SSE-KMS with the API's key, TLS only (the shared s3-bucket module); the distribution
# alone reads it, through origin access control.
module "web_bucket" {
  source = "../imgpipe/modules/s3-bucket"
  count  = local.web_enabled ? 1 : 0

  bucket                       = local.web_bucket_name
  kms_key_arn                  = module.kms.key_arn
  force_destroy                = var.force_destroy
  cloudfront_distribution_arns = [aws_cloudfront_distribution.this[0].arn]
  tags                         = var.tags
}

resource "aws_s3_object" "web" {
  for_each = local.web_files

  bucket        = module.web_bucket[0].s3_bucket_id
  key           = each.value
  source        = "${var.web_dir}/${each.value}"
  source_hash   = filemd5("${var.web_dir}/${each.value}")
  content_type  = lookup(local.content_types, reverse(split(".", each.value))[0], "application/octet-stream")
  cache_control = endswith(each.value, ".html") ? "no-cache" : "public, max-age=300"
  tags          = var.tags
}

resource "aws_s3_object" "web_config" {
  count = local.web_enabled ? 1 : 0

  bucket        = module.web_bucket[0].s3_bucket_id
  key           = "config.json"
  content       = jsonencode({ apiUrl = local.api_url, auth = local.web_auth, failedIsFinal = var.failed_is_final })
  content_type  = "application/json"
  cache_control = "no-cache"
  tags          = var.tags
}

resource "aws_cloudfront_origin_access_control" "this" {
  count = local.web_enabled ? 1 : 0

  name                              = "${var.name}-web"
  description                       = "The imgpipe web page bucket"
  origin_access_control_origin_type = "s3"
  signing_behavior                  = "always"
  signing_protocol                  = "sigv4"
}

resource "aws_cloudfront_distribution" "this" {
  count = local.web_enabled ? 1 : 0

  enabled             = true
  comment             = "${var.name} web page"
  default_root_object = "index.html"
  http_version        = "http2and3"
  price_class         = var.web_price_class
  tags                = var.tags

  origin {
    origin_id                = "web"
    domain_name              = module.web_bucket[0].s3_bucket_regional_domain_name
    origin_access_control_id = aws_cloudfront_origin_access_control.this[0].id
  }

  default_cache_behavior {
    target_origin_id       = "web"
    viewer_protocol_policy = "redirect-to-https"
    allowed_methods        = ["GET", "HEAD"]
    cached_methods         = ["GET", "HEAD"]
    compress               = true
    # Managed policies: CachingOptimized (it honours the objects' Cache-Control) and SecurityHeadersPolicy.
    cache_policy_id            = "658327ea-f89d-4fab-a63d-7e88639e58f6"
    response_headers_policy_id = "67f7725c-6f97-4210-82d7-5512b31e9d03"
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  viewer_certificate {
    cloudfront_default_certificate = true
    minimum_protocol_version       = "TLSv1.2_2021"
  }
}

# Browsers upload straight to the source bucket with the presigned POST.
resource "aws_s3_bucket_cors_configuration" "this" {
  count = local.cors_enabled ? 1 : 0

  bucket = var.source_bucket_id

  cors_rule {
    allowed_origins = [for origin in local.cors_origins : origin if origin != "*" || !var.cors_allow_credentials]
    allowed_methods = ["POST"]
    allowed_headers = ["*"]
    expose_headers  = ["ETag"]
    max_age_seconds = 600
  }
}
