# One environment's values through the root, against a mocked AWS provider: no account needed. CI
# (ci.yml) runs it once per folder under ../envs, with that environment's files:
#
#   terraform test -var-file=../envs/<env>/terraform.tfvars.json -var-file=../envs/<env>/tuning.tfvars.json
#
# so every validation of the root's and the module's variables, and the module's preconditions, run
# on the values each environment will deploy, before a release reaches its plan.

mock_provider "aws" {
  source = "../modules/imgpipe/tests/mocks"
}

# us-east-1: the transformation distribution's CloudFront alarms.
mock_provider "aws" {
  alias  = "us_east_1"
  source = "../modules/imgpipe/tests/mocks"
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

  assert {
    condition     = output.status_table_name == (var.create_status_table ? "imgpipe-${var.environment}-status" : null)
    error_message = "The status table should be imgpipe-<environment>-status."
  }

  assert {
    condition = var.budget_monthly_limit_usd == null || (
      one(module.imgpipe.budget_cost_filters).name == "TagKeyValue"
      && one(module.imgpipe.budget_cost_filters).values == tolist([format("user:Environment$%s", var.environment)])
      && toset(module.imgpipe.budget_notification_types) == toset(["ACTUAL", "FORECASTED"])
    )
    error_message = "The environment's budget should count only costs tagged Environment=<environment>, with actual and forecasted notifications."
  }

  assert {
    condition     = output.release_hook_function_names.BeforeAllowTraffic == "imgpipe-${var.environment}-before-traffic"
    error_message = "Each environment should have its release hooks."
  }

  # The bootstrap makes one deploy role per environment, imgpipe-github-deploy-<environment>
  # (../bootstrap/iam.tf); KMS refuses a key policy that names a role that does not exist.
  assert {
    condition     = tolist(local.kms_key_administrator_arns) == tolist(["arn:aws:iam::123456789012:role/imgpipe-github-deploy-${var.environment}"])
    error_message = "The keys' administrator should be the bootstrap's deploy role of this environment, not ${jsonencode(local.kms_key_administrator_arns)}."
  }
}

run "leaves_the_api_out_unless_enabled" {
  command = plan

  assert {
    condition     = var.api.enabled || (length(module.api) == 0 && output.api_url == null && output.web_url == null)
    error_message = "The HTTP API should be off unless api.enabled."
  }
}

run "deploys_the_api_with_a_user_pool_when_enabled" {
  variables {
    api = { enabled = true, web_dir = "../modules/api/tests/page" }
  }

  assert {
    condition     = output.api_url == "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com" && output.web_url == "https://d1example2page.cloudfront.net/"
    error_message = "api.enabled should deploy the API and the page."
  }

  assert {
    condition     = output.cognito_user_pool_id == "eu-west-1_Example1"
    error_message = "The API should get a user pool by default: it never deploys without authentication unless told."
  }

  assert {
    condition     = module.api[0].lambda_function_name == "imgpipe-${var.environment}-api"
    error_message = "The API function should be <deployment>-api."
  }
}

# The module's refusal to deploy an open API is tested in modules/api/tests: expect_failures can
# only name this root's own objects, not a precondition inside module.api.

run "leaves_transformations_out_unless_enabled" {
  command = plan

  assert {
    condition     = var.transform.enabled || (length(module.transform) == 0 && output.transform_url == null)
    error_message = "On-demand transformations should be off unless transform.enabled."
  }
}

run "deploys_transformations_behind_cloudfront_when_enabled" {
  variables {
    transform = { enabled = true }
  }

  assert {
    condition     = output.transform_url == "https://d1example2page.cloudfront.net" && output.transform_signing_keys_parameter_name == "/imgpipe-${var.environment}/transform/signing-keys"
    error_message = "transform.enabled should deploy the distribution and the signing keys' parameter."
  }

  assert {
    condition     = module.imgpipe.output_bucket_regional_domain_name != null
    error_message = "The output bucket should be the distribution's second origin."
  }

  assert {
    condition     = length(module.transform) == 1 && module.transform[0].lambda_function_name == "imgpipe-${var.environment}-transform"
    error_message = "The transformation function should be imgpipe-<environment>-transform."
  }

  assert {
    condition     = module.imgpipe.lambda_environment.IMGPIPE_TRANSFORM_PREFIX == "transforms/"
    error_message = "The processing function should know where results are stored, to delete those of a deleted source."
  }
}

# The bootstrap's boundary keeps the functions off another environment's /imgpipe/<environment>/
# parameters: a name copied from another environment's settings is refused at plan, not by every
# invocation after the apply.
run "refuses_another_environments_pipeline_parameter" {
  command = plan

  variables {
    pipeline_config_parameter_name = var.environment == "prod" ? "/imgpipe/dev/pipeline" : "/imgpipe/prod/pipeline"
  }

  expect_failures = [var.pipeline_config_parameter_name]
}

run "takes_this_environments_pipeline_parameter" {
  command = plan

  variables {
    pipeline_config_parameter_name = "/imgpipe/${var.environment}/pipeline"
  }
}
