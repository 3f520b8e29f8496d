# `terraform test` with the mocked AWS provider (shared with modules/imgpipe): the HTTP API's routes,
# authorizer, stage, function and its permissions, the refusal to deploy without authentication,
# CORS, the custom domain, the web page behind CloudFront, and the alarms (issue #12).
# tests/page stands in for the built page (`npm run build:web` writes the real one to dist-web/).

mock_provider "aws" {
  source = "../imgpipe/tests/mocks"
}

variables {
  name      = "imgpipe-test"
  image_uri = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/imgpipe-test@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
  function_environment = {
    IMGPIPE_CONFIG            = "{}"
    IMGPIPE_OUTPUT_BUCKET     = "imgpipe-test-output"
    IMGPIPE_OUTPUT_PREFIX     = "variants/"
    IMGPIPE_QUARANTINE_BUCKET = "imgpipe-test-quarantine"
    IMGPIPE_STATUS_TABLE      = "imgpipe-test-status"
    IMGPIPE_EVENT_BUS         = "arn:aws:events:eu-west-1:123456789012:event-bus/imgpipe-test"
    IMGPIPE_DELETE_OUTPUTS    = "true"
    POWERTOOLS_SERVICE_NAME   = "imgpipe"
    # The processing function's memory budget override: not this function's (see the run below).
    IMGPIPE_MEMORY_MB = "4096"
  }
  source_bucket_id         = "imgpipe-test-source"
  source_bucket_arn        = "arn:aws:s3:::imgpipe-test-source"
  output_bucket_arn        = "arn:aws:s3:::imgpipe-test-output"
  status_table_arn         = "arn:aws:dynamodb:eu-west-1:123456789012:table/imgpipe-test-status"
  kms_key_arn              = "arn:aws:kms:eu-west-1:123456789012:key/99999999-8888-7777-6666-555555555555"
  alarm_topic_arn          = "arn:aws:sns:eu-west-1:123456789012:imgpipe-test-alarms"
  create_cognito_user_pool = true
  # The user pool's client needs a callback URL: this origin's, as no page is published here.
  cors_allowed_origins = ["https://app.example.com"]
}

run "serves_the_four_routes_behind_the_user_pool_authorizer" {
  assert {
    condition     = toset([for route in aws_apigatewayv2_route.this : route.route_key]) == toset(["POST /uploads", "GET /images", "GET /images/{key+}", "DELETE /images/{key+}"])
    error_message = "The API should have exactly the routes of src/handlers/http.ts (ROUTES)."
  }

  assert {
    condition = alltrue([
      for route in aws_apigatewayv2_route.this :
      route.authorization_type == "JWT" && route.authorizer_id == aws_apigatewayv2_authorizer.this[0].id
      && route.target == "integrations/${aws_apigatewayv2_integration.this.id}"
    ])
    error_message = "Every route should go through the JWT authorizer to the one integration."
  }

  assert {
    condition = (
      one(aws_apigatewayv2_authorizer.this[0].jwt_configuration).issuer == "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Example1"
      && one(aws_apigatewayv2_authorizer.this[0].jwt_configuration).audience == toset(["4example5client6id7"])
      && aws_apigatewayv2_authorizer.this[0].identity_sources == toset(["$request.header.Authorization"])
    )
    error_message = "The authorizer should accept the user pool's tokens for the page's client, from the Authorization header."
  }

  assert {
    condition     = aws_cognito_user_pool_client.this[0].generate_secret == false && aws_cognito_user_pool_client.this[0].allowed_oauth_flows == toset(["code"]) && aws_cognito_user_group.this[0].name == "admin"
    error_message = "The user pool should have a public client (authorization code, no secret) and the admin group."
  }

  assert {
    condition     = aws_apigatewayv2_integration.this.integration_type == "AWS_PROXY" && aws_apigatewayv2_integration.this.payload_format_version == "2.0" && aws_apigatewayv2_integration.this.integration_uri == aws_lambda_function.this.invoke_arn
    error_message = "The integration should proxy to the API function with payload format 2.0."
  }

  assert {
    condition = (
      aws_lambda_function.this.image_uri == var.image_uri && one(aws_lambda_function.this.image_config).command == tolist(["index.api"])
      && aws_lambda_function.this.function_name == "imgpipe-test-api" && aws_lambda_function.this.package_type == "Image"
    )
    error_message = "The API function should run the processing image with the command index.api."
  }

  assert {
    condition     = aws_lambda_permission.this.principal == "apigateway.amazonaws.com" && aws_lambda_permission.this.source_arn == "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/*/*"
    error_message = "Only this API (its execution ARN) may invoke the function."
  }

  assert {
    condition = (
      aws_lambda_function.this.environment[0].variables.IMGPIPE_UPLOAD_BUCKET == "imgpipe-test-source"
      && aws_lambda_function.this.environment[0].variables.IMGPIPE_UPLOAD_PREFIX == "uploads/"
      && aws_lambda_function.this.environment[0].variables.IMGPIPE_STATUS_TABLE == "imgpipe-test-status"
      && aws_lambda_function.this.environment[0].variables.IMGPIPE_OUTPUT_BUCKET == "imgpipe-test-output"
      && aws_lambda_function.this.environment[0].variables.IMGPIPE_API_ANONYMOUS == "false"
      && !contains(keys(aws_lambda_function.this.environment[0].variables), "IMGPIPE_EVENT_BUS")
      && aws_lambda_function.this.environment[0].variables.IMGPIPE_DELETE_OUTPUTS == "true"
    )
    error_message = "The API function should read the processing function's document, buckets and table, upload under uploads/, put no events, and know whether deleting an upload removes its outputs (DELETE /images says so)."
  }

  assert {
    condition = (
      aws_apigatewayv2_stage.this.name == "$default" && aws_apigatewayv2_stage.this.auto_deploy
      && one(aws_apigatewayv2_stage.this.default_route_settings).throttling_rate_limit == 50
      && one(aws_apigatewayv2_stage.this.default_route_settings).throttling_burst_limit == 100
      && [for s in aws_apigatewayv2_stage.this.route_settings : [s.route_key, s.throttling_rate_limit, s.throttling_burst_limit]] == [["POST /uploads", 10, 20]]
    )
    error_message = "The stage should throttle at 50/s (burst 100) and uploads at 10/s (burst 20) by default."
  }

  assert {
    condition = (
      one(aws_apigatewayv2_stage.this.access_log_settings).destination_arn == aws_cloudwatch_log_group.access.arn
      && jsondecode(one(aws_apigatewayv2_stage.this.access_log_settings).format).status == "$context.status"
      && jsondecode(one(aws_apigatewayv2_stage.this.access_log_settings).format).requestId == "$context.requestId"
      && jsondecode(one(aws_apigatewayv2_stage.this.access_log_settings).format).routeKey == "$context.routeKey"
      && aws_cloudwatch_log_group.access.name == "/aws/apigateway/imgpipe-test-api" && aws_cloudwatch_log_group.access.kms_key_id == module.kms.key_arn
    )
    error_message = "The stage should write one JSON line per request (request id, route, status) to its encrypted log group."
  }

  assert {
    condition     = output.api_url == "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com" && output.web_url == null && length(aws_cloudfront_distribution.this) == 0
    error_message = "Without a custom domain the API's URL is the execute-api endpoint; without web_dir there is no page."
  }
}

run "grants_the_function_only_what_the_api_does" {
  command = plan

  assert {
    condition     = [for s in data.aws_iam_policy_document.function.statement : s.resources if contains(s.actions, "s3:PutObject")] == [toset(["arn:aws:s3:::imgpipe-test-source/uploads/*"])]
    error_message = "The function should sign uploads (s3:PutObject) under the uploads prefix of the source bucket only."
  }

  assert {
    condition = (
      [for s in data.aws_iam_policy_document.function.statement : s.resources if contains(s.actions, "s3:GetObject") && contains(s.resources, "arn:aws:s3:::imgpipe-test-output/variants/*")] == [toset(["arn:aws:s3:::imgpipe-test-output/variants/*"])]
      && [for s in data.aws_iam_policy_document.function.statement : s.actions if contains(s.resources, "arn:aws:s3:::imgpipe-test-output/variants/*")] == [toset(["s3:GetObject"])]
    )
    error_message = "The function should only read the output bucket, under the output prefix."
  }

  assert {
    condition     = [for s in data.aws_iam_policy_document.function.statement : s.actions if anytrue([for a in s.actions : startswith(a, "dynamodb:")])] == [toset(["dynamodb:GetItem", "dynamodb:Query"])]
    error_message = "The function should only read the status table (GetItem, Query)."
  }

  assert {
    condition     = alltrue([for s in data.aws_iam_policy_document.function.statement : !contains(s.resources, "*") || alltrue([for a in s.actions : startswith(a, "xray:")])])
    error_message = "Only X-Ray, which has no resource-level permissions, may be granted on *."
  }

  assert {
    condition     = [for s in data.aws_iam_policy_document.function.statement : s.resources if contains(s.actions, "kms:GenerateDataKey")] == [toset([var.kms_key_arn])]
    error_message = "The function should use the deployment's key, by ARN."
  }
}

run "refuses_to_deploy_without_authentication" {
  command = plan

  variables {
    create_cognito_user_pool = false
  }

  expect_failures = [aws_apigatewayv2_api.this]
}

run "deploys_without_authentication_only_when_allowed_explicitly" {
  variables {
    create_cognito_user_pool = false
    allow_anonymous          = true
  }

  assert {
    condition     = length(aws_apigatewayv2_authorizer.this) == 0 && alltrue([for route in aws_apigatewayv2_route.this : route.authorization_type == "NONE"])
    error_message = "allow_anonymous = true should deploy the routes without an authorizer."
  }

  assert {
    condition     = aws_lambda_function.this.environment[0].variables.IMGPIPE_API_ANONYMOUS == "true" && length(aws_cognito_user_pool.this) == 0
    error_message = "The function should then treat every caller as the owner anonymous."
  }
}

run "accepts_the_tokens_of_another_openid_connect_issuer" {
  variables {
    create_cognito_user_pool = false
    jwt_issuer               = "https://example.eu.auth0.com/"
    jwt_audience             = ["imgpipe-web"]
  }

  assert {
    condition     = one(aws_apigatewayv2_authorizer.this[0].jwt_configuration).issuer == "https://example.eu.auth0.com/" && one(aws_apigatewayv2_authorizer.this[0].jwt_configuration).audience == toset(["imgpipe-web"])
    error_message = "jwt_issuer and jwt_audience should configure the authorizer."
  }

  assert {
    condition     = length(aws_cognito_user_pool.this) == 0 && aws_lambda_function.this.environment[0].variables.IMGPIPE_API_ANONYMOUS == "false"
    error_message = "With another issuer no user pool is created, and callers are never anonymous."
  }
}

run "answers_no_cross_origin_request_without_a_page_or_origins" {
  variables {
    create_cognito_user_pool = false
    jwt_issuer               = "https://example.eu.auth0.com/"
    jwt_audience             = ["imgpipe-web"]
    cors_allowed_origins     = []
  }

  assert {
    condition     = length(aws_apigatewayv2_api.this.cors_configuration) == 0 && length(aws_s3_bucket_cors_configuration.this) == 0
    error_message = "Without a page or allowed origins, neither the API nor the source bucket should answer cross-origin requests."
  }
}

# Cognito refuses a code-flow client without a callback URL, at the apply: the plan says so.
run "refuses_a_user_pool_without_a_page_or_an_origin_to_sign_in_from" {
  command = plan

  variables {
    cors_allowed_origins = ["*"]
  }

  expect_failures = [aws_cognito_user_pool_client.this]
}

# Cognito takes http:// callback URLs for localhost alone.
run "refuses_an_http_origin_as_the_user_pools_callback" {
  command = plan

  variables {
    cors_allowed_origins = ["https://app.example.com", "http://app.example.com"]
  }

  expect_failures = [aws_cognito_user_pool_client.this]
}

run "takes_http_localhost_as_the_user_pools_callback" {
  command = plan

  variables {
    cors_allowed_origins = ["http://localhost:3000", "http://localhost"]
  }

  assert {
    condition     = aws_cognito_user_pool_client.this[0].callback_urls == toset(["http://localhost:3000/", "http://localhost/"])
    error_message = "http://localhost origins should be the client's callback URLs, as Cognito takes them."
  }
}

run "refuses_an_issuer_without_an_audience" {
  command = plan

  variables {
    create_cognito_user_pool = false
    jwt_issuer               = "https://example.eu.auth0.com/"
  }

  expect_failures = [aws_apigatewayv2_api.this]
}

run "refuses_any_origin_with_credentials" {
  command = plan

  variables {
    cors_allowed_origins   = ["*", "https://app.example.com"]
    cors_allow_credentials = true
  }

  expect_failures = [aws_apigatewayv2_api.this]
}

run "allows_named_origins_on_the_api_and_the_source_bucket" {
  variables {
    cors_allowed_origins = ["https://app.example.com"]
  }

  assert {
    condition = (
      one(aws_apigatewayv2_api.this.cors_configuration).allow_origins == toset(["https://app.example.com"])
      && one(aws_apigatewayv2_api.this.cors_configuration).allow_credentials == false
      && one(aws_apigatewayv2_api.this.cors_configuration).allow_headers == toset(["authorization", "content-type"])
    )
    error_message = "The API should allow the named origin, without credentials, with the Authorization header."
  }

  assert {
    condition     = one(aws_s3_bucket_cors_configuration.this[0].cors_rule).allowed_origins == toset(["https://app.example.com"]) && one(aws_s3_bucket_cors_configuration.this[0].cors_rule).allowed_methods == toset(["POST"])
    error_message = "The source bucket should accept presigned POSTs from the named origin."
  }
}

run "refuses_a_route_it_does_not_have_in_route_throttling" {
  command = plan

  variables {
    route_throttling = { "PUT /images" = { rate_limit = 1, burst_limit = 1 } }
  }

  expect_failures = [var.route_throttling]
}

# API Gateway takes a burst in whole requests: 2.5 planned, and the apply was refused.
run "refuses_a_burst_that_is_not_a_whole_number" {
  command = plan

  variables {
    throttling_burst_limit = 2.5
    route_throttling       = { "GET /images" = { rate_limit = 1.5, burst_limit = 2.5 } }
  }

  expect_failures = [var.throttling_burst_limit, var.route_throttling]
}

# A browser's Origin is lowercase without the default port, and CORS compares strings: these
# planned, and every request from those pages was refused.
run "refuses_origins_written_otherwise_than_browsers_send_them" {
  command = plan

  variables {
    cors_allowed_origins = ["https://App.example.com", "https://app.example.com:443", "http://localhost:80"]
  }

  expect_failures = [var.cors_allowed_origins]
}

run "takes_an_origin_on_another_port" {
  command = plan

  variables {
    cors_allowed_origins = ["https://app.example.com:8443", "http://localhost:5173"]
  }

  assert {
    condition     = toset(aws_apigatewayv2_api.this.cors_configuration[0].allow_origins) == toset(["https://app.example.com:8443", "http://localhost:5173"])
    error_message = "An origin on a port of its own is taken as written."
  }
}

run "throttles_routes_as_told" {
  command = plan

  variables {
    throttling_rate_limit  = 5
    throttling_burst_limit = 7
    route_throttling = {
      "POST /uploads"         = { rate_limit = 1, burst_limit = 2 }
      "DELETE /images/{key+}" = { rate_limit = 3, burst_limit = 4 }
    }
  }

  assert {
    condition = (
      one(aws_apigatewayv2_stage.this.default_route_settings).throttling_rate_limit == 5
      && one(aws_apigatewayv2_stage.this.default_route_settings).throttling_burst_limit == 7
      && { for s in aws_apigatewayv2_stage.this.route_settings : s.route_key => [s.throttling_rate_limit, s.throttling_burst_limit] } == { "POST /uploads" = [1, 2], "DELETE /images/{key+}" = [3, 4] }
    )
    error_message = "The stage and route limits should be the variables'."
  }
}

run "keeps_the_upload_limit_beside_the_limits_of_other_routes" {
  command = plan

  variables {
    route_throttling = { "GET /images/{key+}" = { rate_limit = 5, burst_limit = 10 } }
  }

  assert {
    condition     = { for s in aws_apigatewayv2_stage.this.route_settings : s.route_key => [s.throttling_rate_limit, s.throttling_burst_limit] } == { "POST /uploads" = [10, 20], "GET /images/{key+}" = [5, 10] }
    error_message = "Limiting another route should leave uploads held to 10 per second, burst 20."
  }
}

run "serves_a_custom_domain_with_its_certificate" {
  variables {
    domain_name     = "api.example.com"
    certificate_arn = "arn:aws:acm:eu-west-1:123456789012:certificate/abcd"
  }

  assert {
    condition     = one(aws_apigatewayv2_domain_name.this[0].domain_name_configuration).certificate_arn == var.certificate_arn && aws_apigatewayv2_api_mapping.this[0].api_id == aws_apigatewayv2_api.this.id
    error_message = "The custom domain should use the certificate and map to the API."
  }

  assert {
    condition     = output.api_url == "https://api.example.com"
    error_message = "The API's URL should be the custom domain's."
  }
}

run "refuses_a_custom_domain_without_a_certificate" {
  command = plan

  variables {
    domain_name = "api.example.com"
  }

  expect_failures = [var.certificate_arn]
}

run "tells_the_page_that_a_failure_is_final_in_the_workflow_mode" {
  command = plan

  variables {
    web_dir              = "./tests/page"
    cors_allowed_origins = []
    failed_is_final      = true
  }

  assert {
    condition     = jsondecode(aws_s3_object.web_config[0].content).failedIsFinal == true
    error_message = "With failed_is_final (the deployment's workflow mode), config.json should tell the page to stop following a failed upload."
  }
}

run "publishes_the_page_behind_cloudfront_with_origin_access_control" {
  variables {
    web_dir              = "./tests/page"
    cors_allowed_origins = []
  }

  assert {
    condition     = local.web_bucket_name == "imgpipe-test-web-123456789012" && output.web_bucket_id == module.web_bucket[0].s3_bucket_id
    error_message = "The page bucket should be <name>-web-<account>."
  }

  assert {
    condition = (
      one(aws_cloudfront_distribution.this[0].origin).origin_access_control_id == aws_cloudfront_origin_access_control.this[0].id
      && aws_cloudfront_origin_access_control.this[0].signing_behavior == "always" && aws_cloudfront_origin_access_control.this[0].origin_access_control_origin_type == "s3"
      && one(aws_cloudfront_distribution.this[0].default_cache_behavior).viewer_protocol_policy == "redirect-to-https"
      && aws_cloudfront_distribution.this[0].default_root_object == "index.html"
    )
    error_message = "The distribution should read the bucket through origin access control and serve HTTPS only."
  }

  assert {
    condition = jsonencode([
      for s in data.aws_iam_policy_document.kms.statement : [s.actions, [for c in s.condition : [c.test, c.variable, c.values]]]
      if one(s.principals).identifiers == toset(["cloudfront.amazonaws.com"])
    ]) == jsonencode([[["kms:Decrypt"], [["StringEquals", "AWS:SourceArn", ["arn:aws:cloudfront::123456789012:distribution/E2EXAMPLE3DIST"]]]]])
    error_message = "The key policy should let this distribution, and only it, decrypt the page."
  }

  assert {
    condition = (
      toset(keys(aws_s3_object.web)) == toset(["index.html", "app.js", "style.css"])
      && aws_s3_object.web["index.html"].content_type == "text/html; charset=utf-8" && aws_s3_object.web["index.html"].cache_control == "no-cache"
      && aws_s3_object.web["app.js"].content_type == "text/javascript; charset=utf-8"
      && aws_s3_object.web["style.css"].content_type == "text/css; charset=utf-8"
    )
    error_message = "Every file of web_dir should be published with its content type; index.html never cached."
  }

  assert {
    condition = jsondecode(aws_s3_object.web_config[0].content) == {
      apiUrl = "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com"
      auth = {
        authorizeUrl = "https://imgpipe-test-123456789012.auth.eu-west-1.amazoncognito.com/oauth2/authorize"
        tokenUrl     = "https://imgpipe-test-123456789012.auth.eu-west-1.amazoncognito.com/oauth2/token"
        logoutUrl    = "https://imgpipe-test-123456789012.auth.eu-west-1.amazoncognito.com/logout"
        clientId     = "4example5client6id7"
        scope        = "openid email"
      }
      failedIsFinal = false
    }
    error_message = "config.json should tell the page the API's URL, the user pool's sign-in and sign-out endpoints and that a failure may be retried (failed_is_final defaults to false)."
  }

  assert {
    condition = (
      one(aws_apigatewayv2_api.this.cors_configuration).allow_origins == toset(["https://d1example2page.cloudfront.net"])
      && one(aws_s3_bucket_cors_configuration.this[0].cors_rule).allowed_origins == toset(["https://d1example2page.cloudfront.net"])
      && aws_cognito_user_pool_client.this[0].callback_urls == toset(["https://d1example2page.cloudfront.net/"])
    )
    error_message = "The page's origin should be allowed by CORS on the API and the source bucket, and be the client's callback."
  }

  assert {
    condition     = output.web_url == "https://d1example2page.cloudfront.net/"
    error_message = "web_url should be the distribution's."
  }
}

run "refuses_a_page_without_sign_in_endpoints_for_another_issuer" {
  command = plan

  variables {
    create_cognito_user_pool = false
    jwt_issuer               = "https://example.eu.auth0.com/"
    jwt_audience             = ["imgpipe-web"]
    web_dir                  = "./tests/page"
  }

  expect_failures = [aws_apigatewayv2_api.this]
}

run "refuses_a_web_dir_without_a_built_page" {
  command = plan

  variables {
    web_dir = "./tests/no-such-page"
  }

  expect_failures = [var.web_dir]
}

run "alarms_on_5xx_4xx_and_latency_to_the_deployment_topic" {
  command = plan

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.server_errors.metric_name == "5xx" && aws_cloudwatch_metric_alarm.server_errors.namespace == "AWS/ApiGateway"
      && aws_cloudwatch_metric_alarm.latency.metric_name == "Latency" && aws_cloudwatch_metric_alarm.latency.extended_statistic == "p99"
      && aws_cloudwatch_metric_alarm.client_errors.threshold == 0.25
    )
    error_message = "The API should alarm on 5xx, the 4xx share and p99 latency."
  }

  assert {
    condition = alltrue([
      for alarm in [aws_cloudwatch_metric_alarm.server_errors, aws_cloudwatch_metric_alarm.client_errors, aws_cloudwatch_metric_alarm.latency] :
      alarm.alarm_actions == toset([var.alarm_topic_arn]) && startswith(alarm.alarm_name, "${var.name}-")
    ])
    error_message = "Every alarm should notify the deployment's topic, whose policy accepts alarms named <name>-*."
  }
}

# The function's IMGPIPE_UPLOAD_PREFIX check (config/check.ts checkKeyPrefix) refuses these at init.
run "refuses_an_upload_prefix_with_an_empty_segment" {
  command = plan

  variables {
    upload_prefix = "uploads//"
  }

  expect_failures = [var.upload_prefix]
}

run "refuses_an_upload_prefix_with_a_dot_dot_segment" {
  command = plan

  variables {
    upload_prefix = "uploads/../"
  }

  expect_failures = [var.upload_prefix]
}

run "refuses_an_upload_prefix_with_a_wildcard" {
  command = plan

  variables {
    upload_prefix = "*/"
  }

  expect_failures = [var.upload_prefix]
}

run "takes_an_upload_prefix_of_several_segments" {
  command = plan

  variables {
    upload_prefix = "tenant-a/uploads/"
  }
}

# A pipeline document with which the processing function's environment (the one below, as
# modules/imgpipe makes it) fits Lambda's 4 KB (its tests/outcomes.tftest.hcl: 37 such variants)
# takes this function's past it, with its own variables: Lambda would refuse it at the apply.
run "refuses_an_environment_over_what_lambda_accepts" {
  command = plan

  variables {
    function_environment = {
      IMGPIPE_CONFIG = jsonencode({
        formats  = ["avif", "webp", "jpeg"]
        variants = [for i in range(37) : { name = "v${i}", width = 100 * (i + 1), fit = "inside", formats = ["avif", "webp", "jpeg"] }]
      })
      IMGPIPE_OUTPUT_BUCKET            = "imgpipe-test-output-123456789012"
      IMGPIPE_OUTPUT_PREFIX            = ""
      IMGPIPE_QUARANTINE_BUCKET        = "imgpipe-test-quarantine-123456789012"
      IMGPIPE_QUARANTINE_PREFIX        = ""
      IMGPIPE_MAX_PIXELS               = "50000000"
      POWERTOOLS_SERVICE_NAME          = "imgpipe"
      POWERTOOLS_METRICS_NAMESPACE     = "imgpipe"
      POWERTOOLS_LOG_LEVEL             = "INFO"
      POWERTOOLS_METRICS_FUNCTION_NAME = "imgpipe-test"
      POWERTOOLS_TRACE_ENABLED         = "true"
      IMGPIPE_EVENT_BUS                = "arn:aws:events:eu-west-1:123456789012:event-bus/imgpipe-test"
      IMGPIPE_DELETE_OUTPUTS           = "true"
      IMGPIPE_STATUS_TABLE             = "imgpipe-test-status"
    }
  }

  expect_failures = [aws_lambda_function.this]
}

# IMGPIPE_MEMORY_MB is the processing function's memory budget; this function has its own memory,
# and a budget over it stops its init ("Expected integer between 0 and 512 for IMGPIPE_MEMORY_MB").
run "leaves_out_the_processing_functions_memory_budget" {
  command = plan

  assert {
    condition     = !contains(keys(aws_lambda_function.this.environment[0].variables), "IMGPIPE_MEMORY_MB")
    error_message = "The function should not get the processing function's IMGPIPE_MEMORY_MB."
  }
}
