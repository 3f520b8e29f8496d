# `terraform test` with the mocked AWS provider (shared with modules/imgpipe): the transformation
# function and its URL, the distribution with origin access control in front of it and of the output
# bucket, the cache and origin-request policies, the CloudFront Function, the signing keys'
# parameter, least-privilege IAM and the alarms (issue #13).

mock_provider "aws" {
  source = "../imgpipe/tests/mocks"
}

# CloudFront's metrics and their alarms are in us-east-1.
mock_provider "aws" {
  alias  = "us_east_1"
  source = "../imgpipe/tests/mocks"
}

variables {
  name      = "imgpipe-test"
  image_uri = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/imgpipe-test@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
  function_environment = {
    IMGPIPE_CONFIG            = "{}"
    IMGPIPE_OUTPUT_BUCKET     = "imgpipe-test-output"
    IMGPIPE_QUARANTINE_BUCKET = "imgpipe-test-quarantine"
    IMGPIPE_STATUS_TABLE      = "imgpipe-test-status"
    IMGPIPE_EVENT_BUS         = "arn:aws:events:eu-west-1:123456789012:event-bus/imgpipe-test"
    IMGPIPE_DELETE_OUTPUTS    = "true"
    POWERTOOLS_SERVICE_NAME   = "imgpipe"
    # The processing function's memory budget override: not this function's (see the run below).
    IMGPIPE_MEMORY_MB = "4096"
  }
  source_bucket_id                   = "imgpipe-test-source"
  source_bucket_arn                  = "arn:aws:s3:::imgpipe-test-source"
  output_bucket_arn                  = "arn:aws:s3:::imgpipe-test-output"
  output_bucket_regional_domain_name = "imgpipe-test-output.s3.eu-west-1.amazonaws.com"
  quarantine_bucket_arn              = "arn:aws:s3:::imgpipe-test-quarantine"
  kms_key_arn                        = "arn:aws:kms:eu-west-1:123456789012:key/99999999-8888-7777-6666-555555555555"
  alarm_topic_arn                    = "arn:aws:sns:eu-west-1:123456789012:imgpipe-test-alarms"
}

run "runs_index_transform_behind_an_iam_function_url" {
  assert {
    condition     = aws_lambda_function.this.image_config[0].command == tolist(["index.transform"]) && aws_lambda_function_url.this.authorization_type == "AWS_IAM"
    error_message = "The function should run index.transform behind a function URL only signed callers reach."
  }

  assert {
    condition = (
      aws_lambda_permission.cloudfront_url.principal == "cloudfront.amazonaws.com"
      && aws_lambda_permission.cloudfront_url.source_arn == aws_cloudfront_distribution.this.arn
      && aws_lambda_permission.cloudfront_url.action == "lambda:InvokeFunctionUrl"
      && aws_lambda_permission.cloudfront_invoke.source_arn == aws_cloudfront_distribution.this.arn
    )
    error_message = "Only the distribution should be allowed to invoke the function URL."
  }

  assert {
    condition = (
      aws_lambda_function.this.environment[0].variables.IMGPIPE_TRANSFORM_SIGNING == "required"
      && aws_lambda_function.this.environment[0].variables.IMGPIPE_TRANSFORM_KEYS_PARAMETER == "/imgpipe-test/transform/signing-keys"
      && aws_lambda_function.this.environment[0].variables.IMGPIPE_TRANSFORM_SOURCE_BUCKET == "imgpipe-test-source"
      && aws_lambda_function.this.environment[0].variables.IMGPIPE_OUTPUT_BUCKET == "imgpipe-test-output"
      && !contains(keys(aws_lambda_function.this.environment[0].variables), "IMGPIPE_EVENT_BUS")
      && aws_lambda_function.this.environment[0].variables.IMGPIPE_TRANSFORM_CDN_URL == "/"
    )
    error_message = "Signing should be required by default, with the keys' parameter, the source and output buckets, no event bus, and large results redirected through the distribution's own host (/)."
  }

  assert {
    condition     = aws_cloudwatch_log_group.this.kms_key_id == var.kms_key_arn && aws_cloudwatch_log_group.this.name == "/aws/lambda/imgpipe-test-transform"
    error_message = "The function's log group should be encrypted with the deployment's key, as its other log groups are."
  }
}

run "puts_a_distribution_with_origin_access_control_in_front_of_the_function_and_the_results" {
  assert {
    condition = (
      aws_cloudfront_origin_access_control.function.origin_access_control_origin_type == "lambda"
      && aws_cloudfront_origin_access_control.results.origin_access_control_origin_type == "s3"
      && alltrue([for origin in aws_cloudfront_distribution.this.origin : origin.origin_access_control_id != ""])
    )
    error_message = "Both origins should be reached through origin access control."
  }

  assert {
    condition     = toset([for origin in aws_cloudfront_distribution.this.origin : origin.domain_name]) == toset(["abcdefghijklmnopqrstuvwxyz012345.lambda-url.eu-west-1.on.aws", "imgpipe-test-output.s3.eu-west-1.amazonaws.com"])
    error_message = "The origins should be the function URL's host and the output bucket."
  }

  assert {
    condition     = aws_cloudfront_distribution.this.ordered_cache_behavior[0].path_pattern == "/transforms/*" && aws_cloudfront_distribution.this.ordered_cache_behavior[0].target_origin_id == "results"
    error_message = "Stored results (the redirect target past 6 MB) should be served from the output bucket."
  }

  assert {
    condition = (
      aws_cloudfront_distribution.this.ordered_cache_behavior[0].cache_policy_id == aws_cloudfront_cache_policy.results.id
      && one(one(one(aws_cloudfront_cache_policy.results.parameters_in_cache_key_and_forwarded_to_origin).query_strings_config).query_strings).items == toset(["v"])
      && one(one(aws_cloudfront_cache_policy.results.parameters_in_cache_key_and_forwarded_to_origin).headers_config).header_behavior == "none"
    )
    error_message = "Stored results should be cached on v (the result's ETag in the redirect), so a result made again is a new cache entry."
  }

  assert {
    condition     = one(aws_cloudfront_distribution.this.default_cache_behavior[0].function_association).event_type == "viewer-request" && aws_cloudfront_function.this.runtime == "cloudfront-js-2.0" && strcontains(aws_cloudfront_function.this.code, "function handler(event)")
    error_message = "The CloudFront Function reducing Accept should run on viewer requests, in runtime 2.0."
  }

  assert {
    condition = (
      { for r in aws_cloudfront_distribution.this.custom_error_response : r.error_code => r.error_caching_min_ttl } == { 500 = 0, 502 = 0, 503 = 0, 504 = 0 }
      && alltrue([for r in aws_cloudfront_distribution.this.custom_error_response : r.response_page_path == null || r.response_page_path == ""])
    )
    error_message = "Transient errors (500, 502, 503, 504) should not be cached (CloudFront ignores no-store on them and keeps them 10 s), and the function's JSON error bodies served as they are."
  }
}

run "keys_the_cache_on_the_parameters_and_the_reduced_accept" {
  assert {
    condition = (
      one(one(one(aws_cloudfront_cache_policy.this.parameters_in_cache_key_and_forwarded_to_origin).query_strings_config).query_strings).items == toset(["w", "h", "fit", "fmt", "q", "dpr", "wm", "exp", "sig"])
      && one(one(one(aws_cloudfront_cache_policy.this.parameters_in_cache_key_and_forwarded_to_origin).headers_config).headers).items == toset(["Accept"])
      && one(one(aws_cloudfront_cache_policy.this.parameters_in_cache_key_and_forwarded_to_origin).cookies_config).cookie_behavior == "none"
    )
    error_message = "The cache key should be the eight parameters and Accept, no cookies."
  }

  assert {
    condition     = one(aws_cloudfront_origin_request_policy.this.headers_config).header_behavior == "none"
    error_message = "The function should get no viewer header besides the cache key's: not the viewer's Host, nor its If-None-Match (CloudFront answers conditional requests from its cache and revalidates with its own)."
  }
}

# Signing off, the function reads neither exp nor sig: in the cache key, ?sig=<anything> passed the
# cache at will (each value an entry of its own and a call to the function).
run "drops_exp_and_sig_at_the_edge_when_signing_is_off" {
  variables {
    signing = "off"
  }

  assert {
    condition = (
      one(one(one(aws_cloudfront_cache_policy.this.parameters_in_cache_key_and_forwarded_to_origin).query_strings_config).query_strings).items == toset(["w", "h", "fit", "fmt", "q", "dpr", "wm"])
      && one(one(aws_cloudfront_origin_request_policy.this.query_strings_config).query_strings).items == toset(["w", "h", "fit", "fmt", "q", "dpr", "wm"])
    )
    error_message = "With signing off, exp and sig should be neither in the cache key nor forwarded: the function ignores them."
  }
}

# accept.js writes the query in one spelling (fmt=WEBP, w=0640, dpr=1.0, q=080 and other orders were
# cache entries of their own) only for requests the function accepts: it gets the function's settings.
run "gives_the_cloudfront_function_the_settings_it_checks_queries_against" {
  variables {
    signing     = "off"
    sizes       = [320, 640]
    max_size    = 2000
    quality_min = 40
    quality_max = 80
    formats     = ["webp", "jpeg"]
  }

  assert {
    condition = (
      startswith(aws_cloudfront_function.this.code, "var CONFIG = {\"formats\":[\"webp\",\"jpeg\"],\"maxSize\":2000,\"qualityMax\":80,\"qualityMin\":40,\"signing\":false,\"sizeStep\":10,\"sizes\":[320,640]};\n")
      && strcontains(aws_cloudfront_function.this.code, "function canonicalQuery(querystring)")
      && length(aws_cloudfront_function.this.code) <= 10240
    )
    error_message = "The CloudFront Function should start with the function's settings (CONFIG) and stay within CloudFront's 10 KB."
  }
}

# CloudFront refuses a function over 10 KB at apply, after a plan that passed: the settings it is
# given (a long sizes list, within Lambda's 4 KB environment) must keep it within, or the plan fails.
run "refuses_sizes_that_take_the_cloudfront_function_past_10_kb" {
  command = plan

  variables {
    sizes = [for i in range(250) : 1000 + 12 * i]
  }

  expect_failures = [aws_cloudfront_function.this]
}

run "lets_deleted_and_withdrawn_sources_leave_cloudfront_within_a_day" {
  assert {
    condition = (
      aws_cloudfront_cache_policy.this.max_ttl == 86400 && aws_cloudfront_cache_policy.results.max_ttl == 86400
      && aws_cloudfront_cache_policy.this.default_ttl == 86400 && aws_cloudfront_cache_policy.results.default_ttl == 86400
    )
    error_message = "CloudFront should keep a response a day at most, then revalidate it (a 304, or the 404 of a deleted source): signed responses say a year, immutable, and a deleted upload's transformations were served for that long."
  }
}

run "keeps_the_default_ttl_within_a_shorter_max_ttl" {
  command = plan

  variables {
    cdn_max_ttl_seconds = 600
  }

  assert {
    condition     = aws_cloudfront_cache_policy.this.default_ttl == 600 && aws_cloudfront_cache_policy.this.max_ttl == 600 && aws_cloudfront_cache_policy.results.max_ttl == 600
    error_message = "The default TTL (max_age_seconds, a day) should be capped at cdn_max_ttl_seconds: CloudFront refuses a default over the maximum."
  }
}

run "refuses_a_cdn_max_ttl_of_zero" {
  command = plan

  variables {
    cdn_max_ttl_seconds = 0
  }

  expect_failures = [var.cdn_max_ttl_seconds]
}

run "keeps_the_signing_keys_out_of_terraform" {
  # No resource reads the parameter (a plan's refresh would decrypt it with the plan role): the
  # module names it to the function and outputs the name to create it under.
  assert {
    condition     = output.signing_keys_parameter_name == "/imgpipe-test/transform/signing-keys" && aws_lambda_function.this.environment[0].variables.IMGPIPE_TRANSFORM_KEYS_PARAMETER == output.signing_keys_parameter_name
    error_message = "The keys' parameter should be named, not managed: the output and the function's environment name /imgpipe-test/transform/signing-keys."
  }
}

run "alarms_on_5xx_and_origin_latency" {
  assert {
    condition     = aws_cloudwatch_metric_alarm.this["5xx"].metric_name == "TransformServerErrors" && aws_cloudwatch_metric_alarm.this["5xx"].alarm_actions == toset(["arn:aws:sns:eu-west-1:123456789012:imgpipe-test-alarms"])
    error_message = "The function's 5xx should raise an alarm to the deployment's topic."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.this["origin-latency"].metric_name == "Duration" && aws_cloudwatch_metric_alarm.this["origin-latency"].extended_statistic == "p90" && aws_cloudwatch_metric_alarm.this["origin-latency"].dimensions.FunctionName == "imgpipe-test-transform" && aws_cloudwatch_metric_alarm.this["errors"].metric_name == "Errors"
    error_message = "The origin's latency (the function's p90 duration) and its failures should raise alarms."
  }
}

run "alarms_on_cloudfront_origin_latency_and_5xx_rate_in_us_east_1" {
  variables {
    alarm_email = "ops@example.com"
  }

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.cloudfront["cloudfront-origin-latency"].namespace == "AWS/CloudFront"
      && aws_cloudwatch_metric_alarm.cloudfront["cloudfront-origin-latency"].metric_name == "OriginLatency"
      && aws_cloudwatch_metric_alarm.cloudfront["cloudfront-origin-latency"].extended_statistic == "p90"
      && aws_cloudwatch_metric_alarm.cloudfront["cloudfront-origin-latency"].dimensions == tomap({ DistributionId = aws_cloudfront_distribution.this.id, Region = "Global" })
      && aws_cloudwatch_metric_alarm.cloudfront["cloudfront-5xx-rate"].metric_name == "5xxErrorRate"
      && aws_cloudwatch_metric_alarm.cloudfront["cloudfront-5xx-rate"].threshold == 5
      && aws_cloudwatch_metric_alarm.cloudfront["cloudfront-5xx-rate"].dimensions.DistributionId == aws_cloudfront_distribution.this.id
    )
    error_message = "CloudFront's OriginLatency (p90) and 5xxErrorRate of this distribution should raise alarms."
  }

  assert {
    condition     = one(one(aws_cloudfront_monitoring_subscription.this.monitoring_subscription).realtime_metrics_subscription_config).realtime_metrics_subscription_status == "Enabled" && aws_cloudfront_monitoring_subscription.this.distribution_id == aws_cloudfront_distribution.this.id
    error_message = "OriginLatency is an additional metric: the distribution's monitoring subscription should turn it on."
  }

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.cloudfront["cloudfront-5xx-rate"].alarm_actions == toset([aws_sns_topic.this[0].arn])
      && aws_cloudwatch_metric_alarm.cloudfront["cloudfront-origin-latency"].ok_actions == toset([aws_sns_topic.this[0].arn])
      && aws_sns_topic.this[0].kms_master_key_id == module.kms[0].key_arn
      && aws_sns_topic_subscription.this[0].endpoint == "ops@example.com"
      && aws_sns_topic_policy.this[0].arn == aws_sns_topic.this[0].arn
    )
    error_message = "The CloudFront alarms should notify an encrypted topic of their own region, with the alarm address subscribed."
  }
}

run "takes_a_us_east_1_topic_for_the_cloudfront_alarms" {
  variables {
    cloudfront_alarm_topic_arn = "arn:aws:sns:us-east-1:123456789012:ops"
  }

  assert {
    condition     = length(aws_sns_topic.this) == 0 && length(aws_sns_topic_policy.this) == 0 && aws_cloudwatch_metric_alarm.cloudfront["cloudfront-5xx-rate"].alarm_actions == toset(["arn:aws:sns:us-east-1:123456789012:ops"])
    error_message = "A given topic should be used instead of creating one."
  }
}

run "refuses_a_cloudfront_alarm_topic_outside_us_east_1" {
  command = plan

  variables {
    cloudfront_alarm_topic_arn = "arn:aws:sns:eu-west-1:123456789012:ops"
  }

  expect_failures = [var.cloudfront_alarm_topic_arn]
}

run "lets_the_processing_function_delete_the_results_of_deleted_sources" {
  variables {
    processing_role_name = "imgpipe-test"
  }

  assert {
    condition = (
      aws_iam_role_policy.processing[0].role == "imgpipe-test"
      && aws_iam_role_policy.processing[0].policy == data.aws_iam_policy_document.processing.json
      && one(data.aws_iam_policy_document.processing.statement).actions == toset(["s3:DeleteObject"])
      && one(data.aws_iam_policy_document.processing.statement).resources == toset(["arn:aws:s3:::imgpipe-test-output/transforms/*"])
    )
    error_message = "The processing function should be allowed to delete results, under the results prefix only."
  }
}

run "redirects_large_results_through_the_custom_domain" {
  variables {
    domain_name     = "img.example.com"
    certificate_arn = "arn:aws:acm:us-east-1:123456789012:certificate/abcd"
    signing         = "off"
    sizes           = [320, 640]
  }

  assert {
    condition = (
      aws_lambda_function.this.environment[0].variables.IMGPIPE_TRANSFORM_CDN_URL == "https://img.example.com"
      && aws_lambda_function.this.environment[0].variables.IMGPIPE_TRANSFORM_SIGNING == "off"
      && aws_lambda_function.this.environment[0].variables.IMGPIPE_TRANSFORM_SIZES == "320,640"
      && output.url == "https://img.example.com"
    )
    error_message = "With a domain, large results should redirect through it."
  }
}

run "refuses_a_domain_without_a_certificate" {
  command = plan

  variables {
    domain_name = "img.example.com"
  }

  expect_failures = [var.certificate_arn]
}

run "refuses_a_quality_range_upside_down" {
  command = plan

  variables {
    quality_min = 80
    quality_max = 50
  }

  expect_failures = [var.quality_max]
}

run "refuses_formats_without_jpeg_or_png" {
  command = plan

  variables {
    formats = ["avif", "webp"]
  }

  expect_failures = [var.formats]
}

run "accepts_png_as_the_format_every_client_decodes" {
  command = plan

  variables {
    formats = ["avif", "webp", "png"]
  }

  assert {
    condition     = aws_lambda_function.this.environment[0].variables.IMGPIPE_TRANSFORM_FORMATS == "avif,webp,png"
    error_message = "A list with png and without jpeg should be accepted."
  }
}

run "refuses_a_size_over_max_size" {
  command = plan

  variables {
    sizes    = [320, 1200]
    max_size = 1000
  }

  expect_failures = [var.sizes]
}

run "refuses_a_results_prefix_under_the_transformation_path" {
  command = plan

  variables {
    results_prefix = "t/results/"
  }

  expect_failures = [var.results_prefix]
}

# The function's IMGPIPE_TRANSFORM_PREFIX check (config/check.ts checkKeyPrefix) refuses it at init.
run "refuses_a_results_prefix_with_a_dot_dot_segment" {
  command = plan

  variables {
    results_prefix = "transforms/../"
  }

  expect_failures = [var.results_prefix]
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

# The transform settings come from this module's variables alone, as the CloudFront Function's
# (edge_config) do: one passed in the processing function's environment is left out.
run "takes_its_own_settings_from_its_variables_alone" {
  command = plan

  variables {
    function_environment = {
      IMGPIPE_OUTPUT_BUCKET      = "imgpipe-test-output-123456789012"
      IMGPIPE_TRANSFORM_SIZES    = "640"
      IMGPIPE_TRANSFORM_MAX_SIZE = "100"
      IMGPIPE_TRANSFORM_SIGNING  = "off"
    }
  }

  assert {
    condition     = !contains(keys(aws_lambda_function.this.environment[0].variables), "IMGPIPE_TRANSFORM_SIZES") && aws_lambda_function.this.environment[0].variables.IMGPIPE_TRANSFORM_MAX_SIZE == tostring(var.max_size) && aws_lambda_function.this.environment[0].variables.IMGPIPE_TRANSFORM_SIGNING == var.signing
    error_message = "IMGPIPE_TRANSFORM_* in function_environment should not reach the function: its settings are the module's variables, which the edge uses too."
  }
}
