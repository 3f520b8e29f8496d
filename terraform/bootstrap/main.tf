provider "aws" {
  region = var.region

  default_tags {
    tags = merge(var.tags, {
      Project   = var.name_prefix
      ManagedBy = "terraform"
    })
  }
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  account_id        = data.aws_caller_identity.current.account_id
  partition         = data.aws_partition.current.partition
  state_bucket_name = coalesce(var.state_bucket_name, "${var.name_prefix}-tfstate-${local.account_id}-${var.region}")
  # The deployments in this account, named as the deployment root names them: <prefix>-<environment>.
  deployments = [for environment in var.environments : "${var.name_prefix}-${environment}"]
}

module "state_bucket" {
  source = "../modules/imgpipe/modules/s3-bucket"

  bucket             = local.state_bucket_name
  versioning_enabled = true

  lifecycle_rules = [{
    id                                     = "expire-old-state-versions"
    noncurrent_version_expiration_days     = var.state_noncurrent_version_expiration_days
    abort_incomplete_multipart_upload_days = 7
  }]
}

resource "aws_iam_openid_connect_provider" "github" {
  count = var.create_github_oidc_provider ? 1 : 0

  url            = "https://token.actions.githubusercontent.com"
  client_id_list = ["sts.amazonaws.com"]
}

data "aws_iam_openid_connect_provider" "github" {
  count = var.create_github_oidc_provider ? 0 : 1

  url = "https://token.actions.githubusercontent.com"
}

locals {
  github_oidc_provider_arn = var.create_github_oidc_provider ? aws_iam_openid_connect_provider.github[0].arn : data.aws_iam_openid_connect_provider.github[0].arn
}
