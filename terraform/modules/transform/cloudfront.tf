# One distribution: /t/* goes to the function URL (signed by origin access control), cached on the
# parameters and the reduced Accept; /<results_prefix>* goes to the output bucket (origin access
# control; the bucket and key policies let this distribution alone read and decrypt, modules/imgpipe
# output_cloudfront_distribution_arn), where large results are redirected: `Location: /<key>?v=<result ETag>`
# (or https://<domain_name>/<key>?v=…), cached on v.
#
# Both cache policies keep a response at most cdn_max_ttl_seconds, whatever its Cache-Control (a
# signed one says a year, immutable, for browsers): then CloudFront asks the origin again, with the
# cached ETag, and gets a 304, or the 404 or 403 of a source deleted or withdrawn since. Without that
# cap a deleted upload's transformations were served from every edge for a year.

resource "aws_cloudfront_function" "this" {
  name    = "${var.name}-transform-accept"
  runtime = "cloudfront-js-2.0"
  comment = "Reduces Accept to avif, avif-only, webp or other (the cache key of fmt=auto), and writes the path and query in one spelling"
  publish = true
  # accept.js checks a request against the function's settings before it rewrites its query.
  code = local.edge_function_code

  lifecycle {
    # CloudFront refuses a function over 10 KB only at apply, after a plan that passed; the file
    # leaves about 860 bytes for the settings, which a long sizes list takes.
    precondition {
      condition     = length(local.edge_function_code) <= 10240
      error_message = "The CloudFront Function ${var.name}-transform-accept would be ${length(local.edge_function_code)} bytes with these settings (accept.js and its CONFIG, ${length(var.sizes)} sizes among them), more than the 10240 CloudFront accepts: list fewer sizes, or leave sizes empty and allow multiples of size_step."
    }
  }
}

locals {
  # The function as published: the settings it checks requests against (main.tf edge_config), then
  # accept.js. ASCII throughout, so its length is its size in bytes.
  edge_function_code = "var CONFIG = ${jsonencode(local.edge_config)};\n${file("${path.module}/accept.js")}"
}

resource "aws_cloudfront_cache_policy" "this" {
  name        = "${var.name}-transform"
  comment     = "imgpipe transformations: the query parameters and the reduced Accept"
  min_ttl     = 0
  default_ttl = min(var.max_age_seconds, var.cdn_max_ttl_seconds)
  max_ttl     = var.cdn_max_ttl_seconds

  parameters_in_cache_key_and_forwarded_to_origin {
    enable_accept_encoding_brotli = false
    enable_accept_encoding_gzip   = false

    cookies_config {
      cookie_behavior = "none"
    }

    headers_config {
      header_behavior = "whitelist"

      headers {
        items = ["Accept"]
      }
    }

    query_strings_config {
      query_string_behavior = "whitelist"

      query_strings {
        items = local.cache_key_parameters
      }
    }
  }
}

# What reaches the function: the cache key, and no viewer header besides (the function URL must see
# its own Host). Not the viewer's If-None-Match: CloudFront answers conditional requests from its
# cache itself, and revalidates an expired copy with its own If-None-Match (the cached ETag), which
# needs no policy. A viewer's tag forwarded on a miss would get a 304 that CloudFront cannot cache,
# so that edge would call the function again for the next viewer.
resource "aws_cloudfront_origin_request_policy" "this" {
  name    = "${var.name}-transform"
  comment = "imgpipe transformations: the parameters and Accept of the cache key, nothing else"

  cookies_config {
    cookie_behavior = "none"
  }

  headers_config {
    header_behavior = "none"
  }

  query_strings_config {
    query_string_behavior = "whitelist"

    query_strings {
      items = local.cache_key_parameters
    }
  }
}

# Stored results: a result's key stays when it is made again from a replaced source, so the
# redirect names the bytes by their ETag (v), and v is the cache key. Nothing reaches the bucket but
# the key and v (S3 ignores a query parameter it does not know).
resource "aws_cloudfront_cache_policy" "results" {
  name        = "${var.name}-transform-results"
  comment     = "imgpipe stored transformation results: the key and the result's ETag (v)"
  min_ttl     = 0
  default_ttl = min(var.max_age_seconds, var.cdn_max_ttl_seconds)
  max_ttl     = var.cdn_max_ttl_seconds

  parameters_in_cache_key_and_forwarded_to_origin {
    enable_accept_encoding_brotli = false
    enable_accept_encoding_gzip   = false

    cookies_config {
      cookie_behavior = "none"
    }

    headers_config {
      header_behavior = "none"
    }

    query_strings_config {
      query_string_behavior = "whitelist"

      query_strings {
        items = ["v"]
      }
    }
  }
}

resource "aws_cloudfront_origin_access_control" "function" {
  name                              = "${var.name}-transform-function"
  description                       = "imgpipe transformation function URL"
  origin_access_control_origin_type = "lambda"
  signing_behavior                  = "always"
  signing_protocol                  = "sigv4"
}

resource "aws_cloudfront_origin_access_control" "results" {
  name                              = "${var.name}-transform-results"
  description                       = "imgpipe output bucket (stored transformation results)"
  origin_access_control_origin_type = "s3"
  signing_behavior                  = "always"
  signing_protocol                  = "sigv4"
}

resource "aws_cloudfront_distribution" "this" {
  enabled      = true
  comment      = "${var.name} on-demand transformations"
  http_version = "http2and3"
  price_class  = var.price_class
  aliases      = var.domain_name == null ? [] : [var.domain_name]
  tags         = var.tags

  origin {
    origin_id                = "function"
    domain_name              = replace(replace(aws_lambda_function_url.this.function_url, "https://", ""), "/", "")
    origin_access_control_id = aws_cloudfront_origin_access_control.function.id

    custom_origin_config {
      http_port              = 80
      https_port             = 443
      origin_protocol_policy = "https-only"
      origin_ssl_protocols   = ["TLSv1.2"]
      origin_read_timeout    = min(var.timeout, 60)
    }
  }

  origin {
    origin_id                = "results"
    domain_name              = var.output_bucket_regional_domain_name
    origin_access_control_id = aws_cloudfront_origin_access_control.results.id
  }

  default_cache_behavior {
    target_origin_id         = "function"
    viewer_protocol_policy   = "redirect-to-https"
    allowed_methods          = ["GET", "HEAD"]
    cached_methods           = ["GET", "HEAD"]
    compress                 = false
    cache_policy_id          = aws_cloudfront_cache_policy.this.id
    origin_request_policy_id = aws_cloudfront_origin_request_policy.this.id

    function_association {
      event_type   = "viewer-request"
      function_arn = aws_cloudfront_function.this.arn
    }
  }

  ordered_cache_behavior {
    path_pattern           = "/${var.results_prefix}*"
    target_origin_id       = "results"
    viewer_protocol_policy = "redirect-to-https"
    allowed_methods        = ["GET", "HEAD"]
    cached_methods         = ["GET", "HEAD"]
    compress               = false
    # Honours the results' Cache-Control (a year, immutable): the URL carries their ETag.
    cache_policy_id = aws_cloudfront_cache_policy.results.id
  }

  # CloudFront keeps an error response 10 s by default, and honours the function's no-store only
  # for 404, 410, 414 and 501: a 503 (busy, Retry-After: 1) or a 500, 502 or 504 was served to
  # every viewer of that URL for 10 s. Those may pass at once, so they are not kept; the other 4xx
  # say what the request is (a bad parameter, an expired signature) and keep the default.
  dynamic "custom_error_response" {
    for_each = toset([500, 502, 503, 504])

    content {
      error_code            = custom_error_response.value
      error_caching_min_ttl = 0
    }
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  dynamic "viewer_certificate" {
    for_each = var.domain_name == null ? [1] : []

    content {
      cloudfront_default_certificate = true
      minimum_protocol_version       = "TLSv1.2_2021"
    }
  }

  dynamic "viewer_certificate" {
    for_each = var.domain_name == null ? [] : [1]

    content {
      acm_certificate_arn      = var.certificate_arn
      ssl_support_method       = "sni-only"
      minimum_protocol_version = "TLSv1.2_2021"
    }
  }
}
