# What the mocked AWS provider answers in the tests of this module, of modules/api and of
# terraform/deployment: the attributes that the configuration reads back from data sources and
# created resources.

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
    arn        = "arn:aws:lambda:eu-west-1:123456789012:function:imgpipe-test"
    invoke_arn = "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/arn:aws:lambda:eu-west-1:123456789012:function:imgpipe-test/invocations"
    version    = "7"
  }
}

mock_resource "aws_lambda_alias" {
  defaults = { arn = "arn:aws:lambda:eu-west-1:123456789012:function:imgpipe-test:live" }
}

mock_resource "aws_kms_key" {
  defaults = { arn = "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555" }
}

mock_resource "aws_s3_bucket" {
  defaults = {
    arn                         = "arn:aws:s3:::imgpipe-test-bucket"
    bucket_regional_domain_name = "imgpipe-test-bucket.s3.eu-west-1.amazonaws.com"
  }
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

mock_resource "aws_dynamodb_table" {
  defaults = { arn = "arn:aws:dynamodb:eu-west-1:123456789012:table/imgpipe-test-status" }
}

mock_resource "aws_cloudwatch_event_bus" {
  defaults = { arn = "arn:aws:events:eu-west-1:123456789012:event-bus/imgpipe-test" }
}

mock_data "aws_cloudwatch_event_bus" {
  defaults = { arn = "arn:aws:events:eu-west-1:123456789012:event-bus/default" }
}

mock_resource "aws_cloudwatch_event_rule" {
  defaults = { arn = "arn:aws:events:eu-west-1:123456789012:rule/imgpipe-test/imgpipe-test-image-alerts" }
}

# The HTTP API (modules/api), tested with these mocks too.
mock_resource "aws_apigatewayv2_api" {
  defaults = {
    id            = "a1b2c3d4e5"
    api_endpoint  = "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com"
    execution_arn = "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5"
  }
}

mock_resource "aws_cognito_user_pool" {
  defaults = {
    id       = "eu-west-1_Example1"
    endpoint = "cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Example1"
  }
}

mock_resource "aws_cognito_user_pool_client" {
  defaults = { id = "4example5client6id7" }
}

mock_resource "aws_cloudfront_distribution" {
  defaults = {
    id          = "E2EXAMPLE3DIST"
    arn         = "arn:aws:cloudfront::123456789012:distribution/E2EXAMPLE3DIST"
    domain_name = "d1example2page.cloudfront.net"
  }
}

# The workflow module (../../workflow/tests and terraform/deployment): ARNs other resources check.
mock_resource "aws_sfn_state_machine" {
  defaults = { arn = "arn:aws:states:eu-west-1:123456789012:stateMachine:imgpipe-test-upload" }
}

mock_resource "aws_cloudwatch_log_group" {
  defaults = { arn = "arn:aws:logs:eu-west-1:123456789012:log-group:imgpipe-test" }
}

# On-demand transformations (modules/transform).
mock_resource "aws_lambda_function_url" {
  defaults = { function_url = "https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.eu-west-1.on.aws/" }
}

mock_resource "aws_cloudfront_function" {
  defaults = { arn = "arn:aws:cloudfront::123456789012:function/imgpipe-test-transform-accept" }
}

mock_resource "aws_ssm_parameter" {
  defaults = { arn = "arn:aws:ssm:eu-west-1:123456789012:parameter/imgpipe-test/transform/signing-keys" }
}

# The optional VPC (modules/imgpipe/vpc.tf).
mock_data "aws_availability_zones" {
  defaults = { names = ["eu-west-1a", "eu-west-1b", "eu-west-1c"] }
}
