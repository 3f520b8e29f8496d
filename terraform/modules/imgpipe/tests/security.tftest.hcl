# `terraform test` with the mocked AWS provider: the optional VPC mode and CloudTrail trail, both
# off by default, and who besides the account may read and decrypt the outputs (the transformation
# distribution, named by its ARN).

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  name             = "imgpipe-test"
  memory_size      = 3008
  timeout          = 60
  max_input_pixels = 50000000
  image_digests = {
    arm64  = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    x86_64 = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
  }
}

run "creates_no_vpc_and_no_trail_by_default" {
  command = plan

  assert {
    condition     = length(aws_vpc.this) + length(aws_vpc_endpoint.interface) + length(aws_security_group.functions) == 0 && length(aws_lambda_function.this.vpc_config) == 0
    error_message = "Without vpc there should be no VPC, endpoint or security group, and the function outside any VPC."
  }

  assert {
    condition     = length(aws_cloudtrail.this) == 0 && length(module.trail_bucket) == 0
    error_message = "Without cloudtrail_enabled there should be no trail and no trail bucket."
  }
}

run "puts_the_functions_in_private_subnets_with_endpoints_and_no_way_out" {
  variables {
    vpc = { cidr_block = "10.50.0.0/16" }
  }

  assert {
    condition     = length(aws_subnet.this) == 2 && toset([for s in aws_subnet.this : s.cidr_block]) == toset(["10.50.0.0/20", "10.50.16.0/20"])
    error_message = "The functions should get one private subnet in each of two zones."
  }

  assert {
    condition = (
      length(aws_lambda_function.this.vpc_config) == 1
      && length(aws_lambda_function.this.vpc_config[0].subnet_ids) == 2
      && alltrue([for hook in aws_lambda_function.release_check : length(hook.vpc_config) == 1])
    )
    error_message = "The pipeline function and the release hooks should run in the private subnets."
  }

  assert {
    condition     = toset(keys(aws_vpc_endpoint.gateway)) == toset(["s3", "dynamodb"]) && alltrue([for e in aws_vpc_endpoint.gateway : e.vpc_endpoint_type == "Gateway"])
    error_message = "S3 and DynamoDB should be reached through gateway endpoints."
  }

  assert {
    condition = (
      one(data.aws_iam_policy_document.s3_endpoint[0].statement).resources == toset(flatten([
        for name in ["imgpipe-test-source-123456789012", "imgpipe-test-output-123456789012", "imgpipe-test-quarantine-123456789012"] :
        ["arn:aws:s3:::${name}", "arn:aws:s3:::${name}/*"]
      ]))
      && one(data.aws_iam_policy_document.dynamodb_endpoint[0].statement).resources == toset([
        "arn:aws:dynamodb:eu-west-1:123456789012:table/imgpipe-test-status",
        "arn:aws:dynamodb:eu-west-1:123456789012:table/imgpipe-test-status/index/*",
      ])
      && aws_vpc_endpoint.gateway["s3"].policy == data.aws_iam_policy_document.s3_endpoint[0].json
      && aws_vpc_endpoint.gateway["dynamodb"].policy == data.aws_iam_policy_document.dynamodb_endpoint[0].json
    )
    error_message = "The gateway endpoints should lead to the deployment's buckets and status table alone: with the default policy, code in the VPC could write to another account's bucket."
  }

  assert {
    condition     = toset(keys(aws_vpc_endpoint.interface)) == toset(["events", "lambda", "codedeploy", "xray"]) && alltrue([for e in aws_vpc_endpoint.interface : e.private_dns_enabled])
    error_message = "Only the services the code calls (events, lambda, codedeploy, and xray with tracing) should get interface endpoints."
  }

  assert {
    condition     = length(aws_route_table.this) == 1 && length(aws_route_table.this[0].route) == 0
    error_message = "The route table should have no route out (no NAT, no internet gateway)."
  }

  assert {
    condition     = length(aws_security_group.functions[0].ingress) == 0 && length(aws_vpc_security_group_egress_rule.functions_to_gateways) == 2
    error_message = "The functions' security group should have no inbound rule, and reach out only over HTTPS to the endpoints."
  }
}

run "adds_a_parameter_store_endpoint_only_for_a_parameter_and_no_xray_without_tracing" {
  command = plan

  variables {
    vpc                            = { availability_zones = ["eu-west-1a", "eu-west-1b", "eu-west-1c"] }
    pipeline_config_parameter_name = "/imgpipe/test/pipeline"
    tracing_enabled                = false
  }

  assert {
    condition     = toset(keys(aws_vpc_endpoint.interface)) == toset(["events", "lambda", "codedeploy", "ssm"]) && length(aws_subnet.this) == 3
    error_message = "ssm should be added with a pipeline parameter, xray left out without tracing."
  }
}

run "refuses_a_vpc_too_small_or_with_one_zone" {
  command = plan

  variables {
    vpc = { cidr_block = "10.0.0.0/28", availability_zones = ["eu-west-1a"] }
  }

  expect_failures = [var.vpc]
}

run "records_the_buckets_data_events_encrypted_into_a_protected_bucket" {
  variables {
    cloudtrail_enabled = true
  }

  assert {
    condition = (
      aws_cloudtrail.this[0].kms_key_id == module.kms.key_arn
      && aws_cloudtrail.this[0].enable_log_file_validation
      && aws_cloudtrail.this[0].s3_bucket_name == module.trail_bucket[0].s3_bucket_id
    )
    error_message = "The trail should encrypt with the deployment's key, validate its files and deliver to the trail bucket."
  }

  assert {
    condition = (
      one([for f in aws_cloudtrail.this[0].advanced_event_selector[0].field_selector : f.equals if f.field == "eventCategory"]) == tolist(["Data"])
      && length(one([for f in aws_cloudtrail.this[0].advanced_event_selector[0].field_selector : f.starts_with if f.field == "resources.ARN"])) == 3
    )
    error_message = "The trail should record S3 data events of the three buckets."
  }

  assert {
    condition     = length(module.trail_bucket) == 1 && strcontains(data.aws_iam_policy_document.kms.json, "") && length([for s in data.aws_iam_policy_document.kms.statement : s if s.sid == "CloudTrailEncryptsItsLogFiles"]) == 1
    error_message = "The key should let CloudTrail encrypt this trail's log files."
  }
}

# The transformation distribution (modules/transform) serves stored results from the output bucket:
# that distribution alone, by its exact ARN, may read them (bucket policy) and decrypt them (key
# policy), not every distribution of the account.
run "lets_only_the_transformation_distribution_read_and_decrypt_the_outputs" {
  variables {
    output_cloudfront_distribution_arn = "arn:aws:cloudfront::123456789012:distribution/E2EXAMPLE3DIST"
  }

  assert {
    condition = jsonencode([
      for s in data.aws_iam_policy_document.output_bucket.statement : [s.actions, [for c in s.condition : [c.test, c.variable, sort(c.values)]]]
      if one(s.principals).type == "Service" && one(one(s.principals).identifiers) == "cloudfront.amazonaws.com"
    ]) == jsonencode([[["s3:GetObject"], [["StringEquals", "AWS:SourceArn", ["arn:aws:cloudfront::123456789012:distribution/E2EXAMPLE3DIST"]]]]])
    error_message = "The output bucket policy should let the transformation distribution alone (aws:SourceArn equal to its ARN, no wildcard) read objects."
  }

  assert {
    condition = jsonencode([
      for s in data.aws_iam_policy_document.kms_cloudfront.statement : [s.actions, [for c in s.condition : [c.test, c.variable, sort(c.values)]]]
      if one(s.principals).type == "Service" && one(one(s.principals).identifiers) == "cloudfront.amazonaws.com"
    ]) == jsonencode([[["kms:Decrypt"], [["StringEquals", "AWS:SourceArn", ["arn:aws:cloudfront::123456789012:distribution/E2EXAMPLE3DIST"]]]]])
    error_message = "The key policy should let the transformation distribution alone (aws:SourceArn equal to its ARN, no wildcard) decrypt."
  }

  assert {
    condition = (
      aws_s3_bucket_policy.this.bucket == module.output_bucket.s3_bucket_id
      && aws_s3_bucket_policy.this.policy == data.aws_iam_policy_document.output_bucket.json
      && one(data.aws_iam_policy_document.output_bucket.source_policy_documents) == module.output_bucket.s3_bucket_policy_json
    )
    error_message = "The output bucket should carry that policy, on top of the bucket module's TLS rules (the key policy's assembly is tested in modules/kms-key)."
  }

  assert {
    condition     = !anytrue([for s in data.aws_iam_policy_document.kms.statement : contains(flatten([for p in s.principals : p.identifiers]), "cloudfront.amazonaws.com")])
    error_message = "The policy the key is created with should not name CloudFront: the distribution does not exist yet."
  }
}

run "lets_no_distribution_read_or_decrypt_the_outputs_by_default" {
  assert {
    condition = alltrue([
      for s in concat(data.aws_iam_policy_document.output_bucket.statement, data.aws_iam_policy_document.kms_cloudfront.statement) :
      !contains(flatten([for p in s.principals : p.identifiers]), "cloudfront.amazonaws.com")
    ])
    error_message = "Without output_cloudfront_distribution_arn, neither policy should name CloudFront."
  }
}

# The function's IMGPIPE_OUTPUT_PREFIX and IMGPIPE_TRANSFORM_PREFIX checks (config/check.ts
# checkKeyPrefix) refuse these at init.
run "refuses_an_output_prefix_with_an_empty_segment" {
  command = plan

  variables {
    output_prefix = "site//"
  }

  expect_failures = [var.output_prefix]
}

run "refuses_a_transform_results_prefix_with_a_dot_segment" {
  command = plan

  variables {
    transform_results_prefix = "./transforms/"
  }

  expect_failures = [var.transform_results_prefix]
}

run "lets_the_pipeline_delete_the_results_of_withdrawn_sources_under_their_prefix_only" {
  variables {
    transform_results_prefix = "transforms/"
  }

  assert {
    condition = jsonencode([
      for s in data.aws_iam_policy_document.objects.statement : [s.actions, s.resources]
      if s.sid == "DeleteTheResultsOfWithdrawnSources"
    ]) == jsonencode([[["s3:DeleteObject"], ["${module.output_bucket.s3_bucket_arn}/transforms/*"]]])
    error_message = "The pipeline's document (this function's and the workflow's tasks') should let it delete on-demand results, under their prefix only."
  }
}

run "grants_no_results_deletion_without_transformations" {
  assert {
    condition     = !anytrue([for s in data.aws_iam_policy_document.objects.statement : s.sid == "DeleteTheResultsOfWithdrawnSources"])
    error_message = "Without on-demand transformations there are no results to delete."
  }
}

# IMGPIPE_OUTPUT_PREFIX and IMGPIPE_MAX_PIXELS, always in the function's environment, override the
# document: its own values would be ignored.
run "refuses_an_output_prefix_in_the_pipeline_document" {
  command = plan

  variables {
    pipeline_config = "{\"outputPrefix\":\"img/\"}"
  }

  expect_failures = [var.pipeline_config]
}

run "refuses_a_pixel_limit_in_the_pipeline_document" {
  command = plan

  variables {
    pipeline_config = "{\"limits\":{\"maxPixels\":1000000}}"
  }

  expect_failures = [var.pipeline_config]
}

run "takes_a_pipeline_document_with_other_limits" {
  command = plan

  variables {
    pipeline_config = "{\"limits\":{\"maxBytes\":1000000},\"variants\":[{\"name\":\"thumb\",\"width\":320}]}"
  }
}

# A prefix becomes the resource <prefix>* of the roles' grants and the output bucket's policy,
# where * and ? are wildcards: "*/" would let the distribution read every output and manifest.
run "refuses_a_transform_results_prefix_with_a_wildcard" {
  command = plan

  variables {
    transform_results_prefix = "*/"
  }

  expect_failures = [var.transform_results_prefix]
}

run "refuses_a_transform_results_prefix_with_a_single_character_wildcard" {
  command = plan

  variables {
    transform_results_prefix = "transform?/"
  }

  expect_failures = [var.transform_results_prefix]
}

run "refuses_an_output_prefix_with_a_wildcard" {
  command = plan

  variables {
    output_prefix = "site*/"
  }

  expect_failures = [var.output_prefix]
}

# The workflow module's Inspect (which parses the upload's untrusted header) and RecordFailure make
# nothing: their documents read the upload and its manifest (Inspect) and record the status item
# and the event, and write or delete nothing in a bucket. The status item and the event come from
# the records document, which the pipeline's outcomes document is built on too.
run "gives_inspect_and_record_failure_no_writes_or_deletions" {
  variables {
    transform_results_prefix = "transforms/"
  }

  assert {
    condition = (
      toset(flatten([for s in data.aws_iam_policy_document.inspect.statement : s.actions])) == toset(["s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket"])
      && toset(flatten([for s in data.aws_iam_policy_document.record.statement : s.actions])) == toset(["kms:Decrypt", "xray:PutTelemetryRecords", "xray:PutTraceSegments"])
      && toset(flatten([for s in data.aws_iam_policy_document.records.statement : s.actions])) == toset(["dynamodb:GetItem", "dynamodb:UpdateItem", "events:PutEvents"])
    )
    error_message = "Inspect should read the upload and its manifest, and both it and RecordFailure record the status item and the event and decrypt: no write or deletion."
  }

  assert {
    condition = (
      [for s in data.aws_iam_policy_document.inspect.statement : s.resources if s.sid == "ReadSourceObjects"] == [toset(["${module.source_bucket.s3_bucket_arn}/*"])]
      && [for s in data.aws_iam_policy_document.inspect.statement : s.resources if s.sid == "ReadManifests"] == [toset(["${module.output_bucket.s3_bucket_arn}/*"])]
      && [for s in data.aws_iam_policy_document.inspect.statement : s.resources if s.sid == "ListBucketsSoMissingKeysAre404"] == [toset([module.source_bucket.s3_bucket_arn, module.output_bucket.s3_bucket_arn])]
    )
    error_message = "Inspect should read the uploads and the manifests under the output prefix, and list only the source and output buckets."
  }

  assert {
    condition     = output.inspect_policy_json == data.aws_iam_policy_document.inspect.json && output.record_policy_json == data.aws_iam_policy_document.record.json
    error_message = "The narrower documents should be the module's outputs for the workflow module."
  }
}
