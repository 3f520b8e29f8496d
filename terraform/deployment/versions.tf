terraform {
  # 1.10 brings S3-native state locking (use_lockfile) and cross-variable validation.
  required_version = ">= 1.11, < 2.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.25"
    }
  }
}
