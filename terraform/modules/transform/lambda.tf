# Encrypted with the deployment's key, as its other log groups are: that key's policy lets CloudWatch
# Logs use it for /aws/lambda/<name>-*, this one among them (modules/imgpipe kms.tf).
resource "aws_cloudwatch_log_group" "this" {
  name              = local.log_group_name
  retention_in_days = var.log_retention_in_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

# index.transform from the processing function's image, behind a function URL that only the
# distribution may call (AWS_IAM auth, origin access control signs CloudFront's requests).
resource "aws_lambda_function" "this" {
  function_name = local.function_name
  description   = "imgpipe on-demand transformations (index.transform) behind CloudFront"
  role          = aws_iam_role.this.arn
  package_type  = "Image"
  image_uri     = var.image_uri
  architectures = var.architectures
  memory_size   = var.memory_size
  timeout       = var.timeout
  tags          = var.tags

  reserved_concurrent_executions = var.reserved_concurrency

  image_config {
    command = ["index.transform"]
  }

  environment {
    variables = local.environment
  }

  logging_config {
    log_format            = "JSON"
    log_group             = local.log_group_name
    application_log_level = "INFO"
    system_log_level      = "WARN"
  }

  tracing_config {
    mode = var.tracing_enabled ? "Active" : "PassThrough"
  }

  lifecycle {
    precondition {
      condition     = local.environment_bytes <= 4096
      error_message = "The environment of ${local.function_name} is ${local.environment_bytes} bytes as Lambda measures it (its variables as JSON, where each quote of the pipeline document in IMGPIPE_CONFIG counts twice), more than the 4096 Lambda accepts. Put the pipeline document in Parameter Store (modules/imgpipe pipeline_config_parameter_name) instead."
    }
  }
}

resource "aws_lambda_function_url" "this" {
  function_name      = aws_lambda_function.this.function_name
  authorization_type = "AWS_IAM"
  invoke_mode        = "BUFFERED"
}

# CloudFront's origin access control signs requests to the function URL; only this distribution
# may invoke it (function URLs need both permissions).
resource "aws_lambda_permission" "cloudfront_url" {
  statement_id           = "AllowCloudFrontInvokeFunctionUrl"
  action                 = "lambda:InvokeFunctionUrl"
  function_name          = aws_lambda_function.this.function_name
  principal              = "cloudfront.amazonaws.com"
  source_arn             = aws_cloudfront_distribution.this.arn
  function_url_auth_type = "AWS_IAM"
}

resource "aws_lambda_permission" "cloudfront_invoke" {
  statement_id  = "AllowCloudFrontInvokeFunction"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this.function_name
  principal     = "cloudfront.amazonaws.com"
  source_arn    = aws_cloudfront_distribution.this.arn
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "this" {
  name                 = local.function_name
  assume_role_policy   = data.aws_iam_policy_document.assume.json
  permissions_boundary = var.role_permissions_boundary
  tags                 = var.tags
}

# Least privilege: what index.transform does, on these resources, and nothing else.
data "aws_iam_policy_document" "function" {
  statement {
    sid       = "WriteItsLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${local.log_group_arn}:*"]
  }

  statement {
    sid       = "ReadSources"
    actions   = ["s3:GetObject"]
    resources = ["${var.source_bucket_arn}/*"]
  }

  # Without ListBucket, S3 answers a HEAD of a missing key with 403 instead of 404 (a source, a
  # result, a reason record). The quarantine bucket only with checked_sources_only, which alone reads
  # the reason records there: without it, the function has no business listing what was quarantined.
  statement {
    sid       = "TellMissingSourcesApart"
    actions   = ["s3:ListBucket"]
    resources = concat([var.source_bucket_arn, var.output_bucket_arn], var.checked_sources_only ? [var.quarantine_bucket_arn] : [])
  }

  # checked_sources_only: a source is transformed once its manifest names its current version, and
  # a refusal names the quarantine's reason when the pipeline recorded one. The manifest's key
  # follows the pipeline document's template (which may be in Parameter Store), always under the
  # output prefix (src/core/layout.ts manifestKey), which the processing function's environment sets.
  dynamic "statement" {
    for_each = var.checked_sources_only ? ["${var.output_bucket_arn}/${local.output_prefix}*"] : []

    content {
      sid       = "ReadManifests"
      actions   = ["s3:GetObject"]
      resources = [statement.value]
    }
  }

  dynamic "statement" {
    for_each = var.checked_sources_only ? ["${var.quarantine_bucket_arn}/${local.quarantine_prefix}reasons/*"] : []

    content {
      sid       = "ReadQuarantineReasons"
      actions   = ["s3:GetObject"]
      resources = [statement.value]
    }
  }

  # Results: looked up, stored, read back, and presigned for the redirect past 6 MB.
  statement {
    sid       = "ReadAndWriteResults"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${var.output_bucket_arn}/${var.results_prefix}*"]
  }

  # Sources and results are SSE-KMS with the deployment's key.
  statement {
    sid       = "UseTheDeploymentKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }

  # The SecureString is encrypted with the account's aws/ssm key, which SSM uses on the caller's behalf.
  statement {
    sid       = "ReadTheSigningKeys"
    actions   = ["ssm:GetParameter"]
    resources = [local.parameter_arn]
  }

  dynamic "statement" {
    for_each = local.config_parameter_arn == null ? [] : [local.config_parameter_arn]

    content {
      sid       = "ReadThePipelineDocument"
      actions   = ["ssm:GetParameter"]
      resources = [statement.value]
    }
  }

  dynamic "statement" {
    for_each = var.tracing_enabled ? [1] : []

    content {
      sid       = "SendTraces"
      actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
      resources = ["*"]
    }
  }
}

resource "aws_iam_role_policy" "this" {
  name   = local.function_name
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.function.json
}

# The processing function deletes a deleted source's results with its outputs (src/pipeline/
# remove-object.ts); its own policy reaches only the output prefix, which need not hold these.
data "aws_iam_policy_document" "processing" {
  statement {
    sid       = "DeleteTheResultsOfDeletedSources"
    actions   = ["s3:DeleteObject"]
    resources = ["${var.output_bucket_arn}/${var.results_prefix}*"]
  }
}

resource "aws_iam_role_policy" "processing" {
  count = var.processing_role_name == null ? 0 : 1

  name   = "${local.function_name}-results"
  role   = var.processing_role_name
  policy = data.aws_iam_policy_document.processing.json
}
