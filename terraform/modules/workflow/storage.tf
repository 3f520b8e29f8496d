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

# The scanner's images (scanner/Dockerfile), apart from the function's: a different image with its
# own release cadence.
module "scanner_ecr" {
  source = "../imgpipe/modules/ecr-repository"

  name         = "${var.name}-scanner"
  force_delete = var.force_destroy
  tags         = var.tags
}
