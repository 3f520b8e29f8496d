# One environment's values through the root, against a mocked AWS provider: no account needed. CI
# (ci.yml) runs it once per folder under ../envs, with that environment's files:
#
#   terraform test -var-file=../envs/<env>/terraform.tfvars.json -var-file=../envs/<env>/tuning.tfvars.json
#
# so every validation of the root's and the module's variables, and the module's preconditions, run
# on the values each environment will deploy, before a release reaches its plan.

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }

  mock_data "aws_region" {
    defaults = { region = "eu-west-1" }
  }

  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }

  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }

  mock_resource "aws_lambda_function" {
    defaults = {
      arn     = "arn:aws:lambda:eu-west-1:123456789012:function:imgpipe-test"
      version = "7"
    }
  }

  mock_resource "aws_lambda_alias" {
    defaults = { arn = "arn:aws:lambda:eu-west-1:123456789012:function:imgpipe-test:live" }
  }

  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555" }
  }

  mock_resource "aws_s3_bucket" {
    defaults = { arn = "arn:aws:s3:::imgpipe-test-bucket" }
  }

  mock_resource "aws_sqs_queue" {
    defaults = { arn = "arn:aws:sqs:eu-west-1:123456789012:imgpipe-test-dlq" }
  }

  mock_resource "aws_sns_topic" {
    defaults = { arn = "arn:aws:sns:eu-west-1:123456789012:imgpipe-test-alarms" }
  }

  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::123456789012:role/imgpipe-test-function" }
  }

  mock_resource "aws_ecr_repository" {
    defaults = { repository_url = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/imgpipe-test" }
  }
}

# The variables block of a test file takes precedence over -var-file: only what the committed files
# cannot hold is set here.
variables {
  # The committed settings carry the placeholder 000000000000 until an operator sets the account.
  aws_account_id = "123456789012"
  # Written by the deploy workflow per release (image.tfvars.json).
  image_digests = {
    arm64  = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    x86_64 = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
  }
}

run "applies_the_environment_values" {
  assert {
    condition     = output.lambda_function_name == "imgpipe-${var.environment}"
    error_message = "The deployment should be named imgpipe-<environment>."
  }

  assert {
    condition     = output.image_platform == (var.architectures[0] == "arm64" ? "linux/arm64" : "linux/amd64")
    error_message = "The function should run the image of the environment's architecture."
  }
}
