resource "aws_cloudwatch_log_group" "function" {
  name              = local.log_group_name
  retention_in_days = var.log_retention_in_days
  kms_key_id        = module.kms.key_arn
  tags              = var.tags
}

# index.api from the processing function's image: no codecs are loaded (src/handlers/lambda.ts).
resource "aws_lambda_function" "this" {
  function_name = local.function_name
  description   = "imgpipe HTTP API (index.api): presigned uploads, status, outputs, deletion"
  role          = aws_iam_role.this.arn
  package_type  = "Image"
  image_uri     = var.image_uri
  architectures = var.architectures
  memory_size   = var.memory_size
  timeout       = var.timeout
  tags          = var.tags

  image_config {
    command = ["index.api"]
  }

  environment {
    variables = local.environment
  }

  logging_config {
    log_format            = "JSON"
    log_group             = aws_cloudwatch_log_group.function.name
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

  depends_on = [aws_iam_role_policy.this]
}

# Only this API may invoke the function, on its own routes.
resource "aws_lambda_permission" "this" {
  statement_id  = "AllowInvokeFromTheHttpApi"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this.function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.this.execution_arn}/*/*"
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

# Least privilege: what index.api does, on these resources, and nothing else.
data "aws_iam_policy_document" "function" {
  statement {
    sid       = "WriteItsLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${local.log_group_arn}:*"]
  }

  # A presigned POST is signed with the role's credentials: S3 allows the upload only if the role
  # may put that key, and only under the uploads prefix.
  statement {
    sid       = "SignUploadsUnderTheUploadsPrefix"
    actions   = ["s3:PutObject"]
    resources = ["${var.source_bucket_arn}/${var.upload_prefix}*"]
  }

  # Status of any source key (admins look up any image) and its deletion; owners are held to their
  # own prefix by the function.
  statement {
    sid       = "ReadAndDeleteSources"
    actions   = ["s3:GetObject", "s3:DeleteObject"]
    resources = ["${var.source_bucket_arn}/*"]
  }

  # Without ListBucket, S3 answers a HEAD or GET of a missing key with 403 instead of 404: a
  # missing source, and a processed image's manifest that is not there (a manifest template or
  # output prefix changed since, outputs expired or removed), would be answered 500.
  statement {
    sid       = "TellMissingKeysApart"
    actions   = ["s3:ListBucket"]
    resources = [var.source_bucket_arn, var.output_bucket_arn]
  }

  # Manifests, and the outputs presigned GETs hand out.
  statement {
    sid       = "ReadOutputsAndManifests"
    actions   = ["s3:GetObject"]
    resources = ["${var.output_bucket_arn}/${local.output_prefix}*"]
  }

  statement {
    sid       = "ReadTheStatusTable"
    actions   = ["dynamodb:GetItem", "dynamodb:Query"]
    resources = [var.status_table_arn, "${var.status_table_arn}/index/*"]
  }

  # Decrypt: the status table, manifests, outputs. GenerateDataKey: uploads to the SSE-KMS bucket.
  statement {
    sid       = "UseTheDeploymentKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
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
