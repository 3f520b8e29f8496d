terraform {
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.0, < 7.0"
      # CloudFront's metrics are in us-east-1: its alarms are made there (monitoring.tf).
      configuration_aliases = [aws.us_east_1]
    }
  }
}
