module "source_bucket" {
  source = "./modules/s3-bucket"

  bucket             = local.bucket_names.source
  kms_key_arn        = module.kms.key_arn
  versioning_enabled = true
  force_destroy      = var.s3_force_destroy
  tags               = var.tags

  lifecycle_rules = [
    {
      id                                     = "expire-old-versions"
      noncurrent_version_expiration_days     = var.source_noncurrent_version_expiration_days
      abort_incomplete_multipart_upload_days = var.abort_incomplete_multipart_upload_days
    },
    {
      # Delete markers whose versions have all expired are clutter that slows listings.
      id                           = "remove-expired-delete-markers"
      expired_object_delete_marker = true
    },
  ]
}

module "output_bucket" {
  source = "./modules/s3-bucket"

  bucket        = local.bucket_names.output
  kms_key_arn   = module.kms.key_arn
  force_destroy = var.s3_force_destroy
  tags          = var.tags

  # The policy is attached below: it names the transformation distribution, which is created
  # after this bucket.
  attach_policy = false

  # On-demand results (modules/transform) are made again on request: they expire, a backstop for
  # those of a source whose deletion the function missed (it deletes them with the outputs).
  lifecycle_rules = concat([
    {
      id                                     = "abort-incomplete-uploads"
      abort_incomplete_multipart_upload_days = var.abort_incomplete_multipart_upload_days
      transition_to_standard_ia_days         = var.output_transition_to_ia_days
    },
    ], var.transform_results_prefix == null ? [] : [
    {
      id              = "expire-transform-results"
      prefix          = var.transform_results_prefix
      expiration_days = var.transform_results_expiration_days
    },
  ])
}

# The output bucket's policy: the module's (TLS only) and, when the transformation distribution
# serves stored results from here (modules/transform), s3:GetObject for that distribution alone, of
# the results (transform_results_prefix) only: its results behaviour routes nothing else here, and
# the outputs and manifests are no business of the distribution.
# It lives outside the bucket module so that it can wait for the distribution: the distribution's
# other origin, the transformation function, takes the bucket's name (s3_bucket_id), which the
# module gives out only once its own policy is in place.
data "aws_iam_policy_document" "output_bucket" {
  source_policy_documents = [module.output_bucket.s3_bucket_policy_json]

  dynamic "statement" {
    for_each = var.output_cloudfront_distribution_arn == null ? [] : [var.output_cloudfront_distribution_arn]

    content {
      sid       = "CloudFrontReadsThroughOriginAccessControl"
      actions   = ["s3:GetObject"]
      resources = ["${module.output_bucket.s3_bucket_arn}/${var.transform_results_prefix == null ? "" : var.transform_results_prefix}*"]

      principals {
        type        = "Service"
        identifiers = ["cloudfront.amazonaws.com"]
      }

      condition {
        test     = "StringEquals"
        variable = "AWS:SourceArn"
        values   = [statement.value]
      }
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  bucket = module.output_bucket.s3_bucket_id
  policy = data.aws_iam_policy_document.output_bucket.json
}

# Was the bucket module's own policy (which moved to this[0] when it became optional).
moved {
  from = module.output_bucket.aws_s3_bucket_policy.this[0]
  to   = aws_s3_bucket_policy.this
}

module "quarantine_bucket" {
  source = "./modules/s3-bucket"

  bucket        = local.bucket_names.quarantine
  kms_key_arn   = module.kms.key_arn
  force_destroy = var.s3_force_destroy
  tags          = var.tags

  lifecycle_rules = [
    {
      id                                     = "expire-quarantine"
      expiration_days                        = var.quarantine_expiration_days
      abort_incomplete_multipart_upload_days = var.abort_incomplete_multipart_upload_days
    },
  ]
}

# S3 invokes the alias, so blue/green shifts apply to every upload.
resource "aws_lambda_permission" "this" {
  statement_id   = "AllowSourceBucketInvoke"
  action         = "lambda:InvokeFunction"
  function_name  = aws_lambda_function.this.function_name
  qualifier      = aws_lambda_alias.this.name
  principal      = "s3.amazonaws.com"
  source_arn     = module.source_bucket.s3_bucket_arn
  source_account = local.account_id
}

# The only notification, on the source bucket: the output and quarantine buckets never invoke the
# function (the handler's recursion guard is the second line of defence, not the first). Removals
# too: the function marks the object deleted, puts Image Deleted and, with delete_outputs, deletes
# its outputs and manifest.
#
# In the workflow mode (source_events_to_eventbridge) the bucket sends every event to EventBridge
# instead, and the workflow module's rule, not S3, chooses what starts a state machine.
resource "aws_s3_bucket_notification" "this" {
  bucket      = module.source_bucket.s3_bucket_id
  eventbridge = var.source_events_to_eventbridge

  dynamic "lambda_function" {
    for_each = { for key, filter in var.source_notification_filters : key => filter if !var.source_events_to_eventbridge }

    content {
      id                  = "imgpipe-${lambda_function.key}"
      lambda_function_arn = aws_lambda_alias.this.arn
      events              = ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]
      filter_prefix       = lambda_function.value.prefix == "" ? null : lambda_function.value.prefix
      filter_suffix       = lambda_function.value.suffix == "" ? null : lambda_function.value.suffix
    }
  }

  # S3 test-invokes the function when the notification is saved and refuses it without permission.
  depends_on = [aws_lambda_permission.this]
}

locals {
  # The filters as EventBridge wildcard patterns, "<prefix>*<suffix>". In a wildcard `*` matches any
  # run of characters and `\` escapes, so a `*` or `\` of a prefix or suffix is written `\*` or `\\`
  # and matched literally, as S3's own filters and the code's check (src/handlers/reprocess.ts) match
  # it: unescaped, the prefix `raw*/` took keys such as `raw-old/a.jpg`, and a prefix ending in `*` gave
  # `**`, which EventBridge refuses. The workflow module's upload rule escapes them the same way.
  source_key_wildcards = [for filter in var.source_notification_filters :
    "${replace(replace(filter.prefix, "\\", "\\\\"), "*", "\\*")}*${replace(replace(filter.suffix, "\\", "\\\\"), "*", "\\*")}"
  ]
}

# In the workflow mode the upload rule (workflow module) takes Object Created events alone: this
# rule sends the bucket's Object Deleted events of the same keys to the `live` alias, which records
# the removal, puts Image Deleted and, with delete_outputs, deletes the outputs and manifest, as the
# notification does in the direct mode. S3 puts its events on the default bus.
resource "aws_cloudwatch_event_rule" "source_deleted" {
  count = var.source_events_to_eventbridge ? 1 : 0

  name        = local.source_deleted_rule_name
  description = "${var.name}: objects deleted from ${local.bucket_names.source} go to the ${var.name} function"
  state       = "ENABLED"
  tags        = var.tags

  event_pattern = jsonencode({
    source        = ["aws.s3"]
    "detail-type" = ["Object Deleted"]
    detail = {
      bucket = { name = [module.source_bucket.s3_bucket_id] }
      object = {
        key = [for wildcard in local.source_key_wildcards : { wildcard = wildcard }]
      }
    }
  })
}

resource "aws_lambda_permission" "source_deleted" {
  count = var.source_events_to_eventbridge ? 1 : 0

  statement_id  = "AllowSourceDeletedRuleInvoke"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this.function_name
  qualifier     = aws_lambda_alias.this.name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.source_deleted[0].arn
}

# An asynchronous invocation: Lambda's retries and the dead-letter queue (lambda.tf) apply as to
# the notification's; EventBridge retries what Lambda refuses (throttled) for a day, then puts the
# event in the rule's own dead-letter queue (sqs.tf), as it does at once with one Lambda refuses
# for good (permission, missing alias).
resource "aws_cloudwatch_event_target" "source_deleted" {
  count = var.source_events_to_eventbridge ? 1 : 0

  rule      = aws_cloudwatch_event_rule.source_deleted[0].name
  target_id = "function-live-alias"
  arn       = aws_lambda_alias.this.arn

  retry_policy {
    maximum_event_age_in_seconds = 86400
    maximum_retry_attempts       = 185
  }

  dead_letter_config {
    arn = aws_sqs_queue.source_deleted[0].arn
  }

  depends_on = [aws_lambda_permission.source_deleted, aws_sqs_queue_policy.this]
}
