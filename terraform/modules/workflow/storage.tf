# The workflow bucket: the ClamAV signature database (clamav/, written by the update function, read
# by every scanner at cold start) and bulk reprocessing's results (reprocess/, the Distributed Map's
# ResultWriter files and each run's summary). Encrypted with the deployment's key, like its other
# buckets.
module "bucket" {
  source = "../imgpipe/modules/s3-bucket"

  bucket        = local.bucket_name
  kms_key_arn   = var.kms_key_arn
  force_destroy = var.force_destroy
  tags          = var.tags

  lifecycle_rules = [
    {
      id                                     = "expire-reprocess-results"
      prefix                                 = local.results_prefix
      expiration_days                        = var.results_expiration_days
      abort_incomplete_multipart_upload_days = 1
    },
  ]
}

# The scanner's images (scanner/Dockerfile), apart from the function's: release.yml builds both on
# every push to main, into the dev repositories, and deploy.yml copies them by digest into each
# environment's, so the accounts that pull the function's builds pull these too.
module "scanner_ecr" {
  source = "../imgpipe/modules/ecr-repository"

  name             = "${var.name}-scanner"
  force_delete     = var.force_destroy
  pull_account_ids = var.ecr_pull_account_ids
  tags             = var.tags
}
