# The bucket and region come from the bootstrap, at init time:
#   terraform init -backend-config="bucket=imgpipe-tfstate-<account id>-<region>" -backend-config="region=<region>"
terraform {
  backend "s3" {
    key          = "imgpipe/prod/terraform.tfstate"
    encrypt      = true
    use_lockfile = true
  }
}
