terraform {
  required_version = ">= 1.11, < 2.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.25"
    }
  }

  # The bootstrap creates the state bucket, so its own state starts out local (terraform.tfstate
  # here, git-ignored). Keep that file safe, or move it into the new bucket afterwards: see
  # terraform/README.md, "Bootstrap each account".
}
