# The function's policy document as AWS would receive it. The mocked provider of transform.tftest.hcl
# renders no policy JSON; the AWS provider renders policy documents without calling AWS, so these
# never reach it (no credentials checked, no account looked up), and what would need AWS is
# overridden.

provider "aws" {
  region                      = "eu-west-1"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
}

provider "aws" {
  alias                       = "us_east_1"
  region                      = "us-east-1"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
}

override_data {
  target = data.aws_caller_identity.current
  values = { account_id = "123456789012" }
}

override_data {
  target = data.aws_partition.current
  values = { partition = "aws" }
}

variables {
  name      = "imgpipe-test"
  image_uri = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/imgpipe-test@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
  function_environment = {
    IMGPIPE_OUTPUT_BUCKET     = "imgpipe-test-output"
    IMGPIPE_OUTPUT_PREFIX     = "variants/"
    IMGPIPE_QUARANTINE_BUCKET = "imgpipe-test-quarantine"
    IMGPIPE_QUARANTINE_PREFIX = ""
  }
  source_bucket_id                   = "imgpipe-test-source"
  source_bucket_arn                  = "arn:aws:s3:::imgpipe-test-source"
  output_bucket_arn                  = "arn:aws:s3:::imgpipe-test-output"
  output_bucket_regional_domain_name = "imgpipe-test-output.s3.eu-west-1.amazonaws.com"
  quarantine_bucket_arn              = "arn:aws:s3:::imgpipe-test-quarantine"
  kms_key_arn                        = "arn:aws:kms:eu-west-1:123456789012:key/99999999-8888-7777-6666-555555555555"
  alarm_topic_arn                    = "arn:aws:sns:eu-west-1:123456789012:imgpipe-test-alarms"
  cloudfront_alarm_topic_arn         = "arn:aws:sns:us-east-1:123456789012:imgpipe-test-cloudfront-alarms"
  checked_sources_only               = true
}

# checked_sources_only reads the manifests, which are under the output prefix: not the rest of the
# output bucket.
run "reads_the_manifests_under_the_output_prefix_alone" {
  command = plan

  assert {
    condition = [
      for statement in jsondecode(data.aws_iam_policy_document.function.json).Statement : statement.Resource
      if statement.Sid == "ReadManifests"
    ] == ["arn:aws:s3:::imgpipe-test-output/variants/*"]
    error_message = "The function should read the manifests under the output prefix (variants/) alone."
  }
}

# The reason records are read with checked_sources_only alone: without it, the quarantine bucket
# (the names of what was quarantined) is not the function's to list.
run "lists_the_quarantine_bucket_only_to_read_its_reason_records" {
  command = plan

  assert {
    condition = toset(one([
      for statement in jsondecode(data.aws_iam_policy_document.function.json).Statement : statement.Resource
      if statement.Sid == "TellMissingSourcesApart"
    ])) == toset(["arn:aws:s3:::imgpipe-test-source", "arn:aws:s3:::imgpipe-test-output", "arn:aws:s3:::imgpipe-test-quarantine"])
    error_message = "With checked_sources_only, the function should list the source, output and quarantine buckets (a missing key is then 404, not 403)."
  }
}

run "leaves_the_quarantine_bucket_alone_without_checked_sources_only" {
  command = plan

  variables {
    checked_sources_only = false
  }

  assert {
    condition = toset(one([
      for statement in jsondecode(data.aws_iam_policy_document.function.json).Statement : statement.Resource
      if statement.Sid == "TellMissingSourcesApart"
    ])) == toset(["arn:aws:s3:::imgpipe-test-source", "arn:aws:s3:::imgpipe-test-output"])
    error_message = "Without checked_sources_only, the function reads nothing in the quarantine bucket, so it should not list it."
  }

  assert {
    condition = length([
      for statement in jsondecode(data.aws_iam_policy_document.function.json).Statement : statement
      if strcontains(jsonencode(statement.Resource), "imgpipe-test-quarantine")
    ]) == 0
    error_message = "Without checked_sources_only, no statement should name the quarantine bucket."
  }
}
