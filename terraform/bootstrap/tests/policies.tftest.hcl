# A managed policy may hold 6,144 characters (an IAM quota; whitespace does not count): the deploy
# role's three and the function boundary must fit with three environments. The AWS provider renders
# policy documents without calling AWS: the provider below never reaches it (no credentials
# checked, no account looked up), and what would need AWS is overridden.

provider "aws" {
  region                      = "eu-west-1"
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

override_data {
  target = data.aws_iam_openid_connect_provider.github
  values = { arn = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com" }
}

override_module {
  target = module.state_bucket
  outputs = {
    s3_bucket_arn = "arn:aws:s3:::imgpipe-tfstate-123456789012"
    s3_bucket_id  = "imgpipe-tfstate-123456789012"
  }
}

variables {
  region             = "eu-west-1"
  github_repository  = "example-org/imgpipe"
  environments       = ["dev", "staging", "prod"]
  bench_environments = ["dev", "staging", "prod"]
}

run "three_environments_fit_the_iam_quotas" {
  command = plan

  assert {
    condition     = length(replace(data.aws_iam_policy_document.deploy.json, "/\\s/", "")) <= 6144
    error_message = "The deploy role's policy deploy has ${length(replace(data.aws_iam_policy_document.deploy.json, "/\\s/", ""))} characters (without whitespace): a managed policy may hold 6,144."
  }

  assert {
    condition     = length(replace(data.aws_iam_policy_document.deploy_platform.json, "/\\s/", "")) <= 6144
    error_message = "The deploy role's policy deploy_platform has ${length(replace(data.aws_iam_policy_document.deploy_platform.json, "/\\s/", ""))} characters (without whitespace): a managed policy may hold 6,144."
  }

  assert {
    condition     = length(replace(data.aws_iam_policy_document.deploy_extensions.json, "/\\s/", "")) <= 6144
    error_message = "The deploy role's policy deploy_extensions has ${length(replace(data.aws_iam_policy_document.deploy_extensions.json, "/\\s/", ""))} characters (without whitespace): a managed policy may hold 6,144."
  }

  assert {
    condition     = length(replace(data.aws_iam_policy_document.function_boundary.json, "/\\s/", "")) <= 6144
    error_message = "The function boundary has ${length(replace(data.aws_iam_policy_document.function_boundary.json, "/\\s/", ""))} characters (without whitespace): a managed policy may hold 6,144."
  }
}
