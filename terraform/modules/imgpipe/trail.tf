# Optional (cloudtrail_enabled): a CloudTrail trail recording the S3 data events (object reads,
# writes and deletions) of the deployment's three buckets, for an audit of who touched which image.
# Its log files are encrypted with the deployment's key and delivered to a bucket made like the
# others (./modules/s3-bucket: no public access, TLS 1.2 or later only, SSE-KMS with the key,
# versioned), which only this trail may write to. Data events are billed per event.

locals {
  trail_name = "${var.name}-data-events"
  # Known before the trail exists, for the key and bucket policies it needs first.
  trail_arn = "arn:${local.partition}:cloudtrail:${local.region}:${local.account_id}:trail/${local.trail_name}"
}

module "trail_bucket" {
  source = "./modules/s3-bucket"
  count  = var.cloudtrail_enabled ? 1 : 0

  bucket                = "${var.name}-trail-${local.account_id}"
  kms_key_arn           = module.kms.key_arn
  versioning_enabled    = true
  force_destroy         = var.s3_force_destroy
  cloudtrail_trail_arns = [local.trail_arn]
  tags                  = var.tags

  lifecycle_rules = [{
    id                                     = "expire-trail-logs"
    expiration_days                        = var.cloudtrail_retention_days
    noncurrent_version_expiration_days     = 30
    abort_incomplete_multipart_upload_days = var.abort_incomplete_multipart_upload_days
  }]
}

resource "aws_cloudtrail" "this" {
  count = var.cloudtrail_enabled ? 1 : 0

  name                          = local.trail_name
  s3_bucket_name                = module.trail_bucket[0].s3_bucket_id
  kms_key_id                    = module.kms.key_arn
  enable_log_file_validation    = true
  include_global_service_events = false
  is_multi_region_trail         = false
  tags                          = var.tags

  advanced_event_selector {
    name = "S3 data events of the ${var.name} buckets"

    field_selector {
      field  = "eventCategory"
      equals = ["Data"]
    }

    field_selector {
      field  = "resources.type"
      equals = ["AWS::S3::Object"]
    }

    field_selector {
      field       = "resources.ARN"
      starts_with = [for bucket in [module.source_bucket, module.output_bucket, module.quarantine_bucket] : "${bucket.s3_bucket_arn}/"]
    }
  }

  # CloudTrail checks at creation that it may write to the bucket and use the key.
  depends_on = [module.trail_bucket, module.kms]
}
