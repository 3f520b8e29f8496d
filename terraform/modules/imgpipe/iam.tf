data "aws_iam_policy_document" "assume_role" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  name                 = "${var.name}-function"
  description          = "Execution role of the ${var.name} function"
  assume_role_policy   = data.aws_iam_policy_document.assume_role.json
  permissions_boundary = var.role_permissions_boundary
  tags                 = var.tags
}

# Every statement names its actions and its resources' ARNs. The one exception is X-Ray, whose
# actions have no resource-level permissions.
#
# What processing objects needs, here and in the workflow module's task functions (the pipeline
# document below); each role adds its own log group, and the main one the dead-letter queue.
data "aws_iam_policy_document" "objects" {
  statement {
    sid = "ReadSourceObjects"
    # CopyObject copies a source into quarantine with its tags: GetObjectTagging, and for the version
    # an event names (a versioned bucket), GetObjectVersion and GetObjectVersionTagging.
    actions   = ["s3:GetObject", "s3:GetObjectTagging", "s3:GetObjectVersion", "s3:GetObjectVersionTagging"]
    resources = ["${module.source_bucket.s3_bucket_arn}/*"]
  }

  statement {
    sid = "ListBucketsSoMissingKeysAre404"
    # Without ListBucket, S3 answers 403 instead of 404 for a missing key: a deleted source or an
    # absent manifest would look like an access error and be retried.
    actions   = ["s3:ListBucket"]
    resources = [module.source_bucket.s3_bucket_arn, module.output_bucket.s3_bucket_arn, module.quarantine_bucket.s3_bucket_arn]
  }

  statement {
    sid = "ReadWriteAndDeleteOutputsAndManifests"
    # DeleteObject: when a processed source is replaced by an invalid one, the outputs and manifest
    # of the earlier version are deleted (src/pipeline/README.md). Only under the output prefix.
    actions   = ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"]
    resources = ["${module.output_bucket.s3_bucket_arn}/${var.output_prefix}*"]
  }

  # The on-demand results (modules/transform) of a source whose outputs are withdrawn (a version
  # replaced by one quarantined, content the workflow's scan or moderation rejects, a deleted
  # source) go with them: in this function and in the workflow's tasks.
  dynamic "statement" {
    for_each = var.transform_results_prefix == null ? [] : [var.transform_results_prefix]

    content {
      sid       = "DeleteTheResultsOfWithdrawnSources"
      actions   = ["s3:DeleteObject"]
      resources = ["${module.output_bucket.s3_bucket_arn}/${var.transform_results_prefix}*"]
    }
  }

  statement {
    sid = "ReadAndWriteQuarantine"
    # GetObject: a quarantine reads its reason record first (a redelivered event finds it done).
    # PutObjectTagging: CopyObject carries the source's tags over to the copy.
    actions   = ["s3:GetObject", "s3:PutObject", "s3:PutObjectTagging"]
    resources = ["${module.quarantine_bucket.s3_bucket_arn}/*"]
  }

  statement {
    sid       = "UseTheKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [module.kms.key_arn]
  }

  statement {
    sid       = "WriteTraces"
    actions   = ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]
    resources = ["*"]
  }
}

# What running the pipeline on an object needs, wherever it runs: this function and the workflow
# module's task functions (output pipeline_policy_json), each adding its own log group.
data "aws_iam_policy_document" "pipeline" {
  source_policy_documents = [data.aws_iam_policy_document.objects.json, data.aws_iam_policy_document.outcomes.json]
}

# Narrower documents for the workflow module's tasks that make nothing, built on the same
# statements: no write or delete of outputs, manifests, results or quarantine for a task that parses
# untrusted headers (Inspect) or only records a failure (RecordFailure).
#
# Recording an outcome where nothing is made (RecordFailure, output record_policy_json): the status
# item (the records document: GetItem, UpdateItem), the event, the pipeline parameter; kms:Decrypt
# for the status table and a SecureString parameter; traces.
data "aws_iam_policy_document" "record" {
  source_policy_documents = [data.aws_iam_policy_document.records.json]

  statement {
    sid       = "DecryptWithTheKey"
    actions   = ["kms:Decrypt"]
    resources = [module.kms.key_arn]
  }

  statement {
    sid       = "WriteTraces"
    actions   = ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]
    resources = ["*"]
  }
}

# Inspecting an upload (Inspect, output inspect_policy_json): what recording needs, and reading the
# upload (the version the event names) and its manifest (whether its outputs are current), with
# ListBucket so that a missing one is a 404.
data "aws_iam_policy_document" "inspect" {
  source_policy_documents = [data.aws_iam_policy_document.record.json]

  statement {
    sid       = "ReadSourceObjects"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${module.source_bucket.s3_bucket_arn}/*"]
  }

  statement {
    sid       = "ReadManifests"
    actions   = ["s3:GetObject"]
    resources = ["${module.output_bucket.s3_bucket_arn}/${var.output_prefix}*"]
  }

  statement {
    sid       = "ListBucketsSoMissingKeysAre404"
    actions   = ["s3:ListBucket"]
    resources = [module.source_bucket.s3_bucket_arn, module.output_bucket.s3_bucket_arn]
  }
}

data "aws_iam_policy_document" "this" {
  source_policy_documents = [data.aws_iam_policy_document.pipeline.json]

  statement {
    sid       = "SendFailedEventsToTheDeadLetterQueue"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.this.arn]
  }

  statement {
    sid       = "WriteLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${local.log_group_arn}:log-stream:*"]
  }
}

resource "aws_iam_role_policy" "this" {
  name   = "imgpipe"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.this.json
}

################################################################################
# Outcomes: status, events and the pipeline parameter
################################################################################

# What the pipeline needs to record each outcome (status table, events) and to read their
# configuration from Parameter Store, on exact ARNs; each statement exists only when its resource
# does: the records document (what every task that records an outcome calls), and the status
# index. No KMS statement of its own: the table and a SecureString parameter use the module's key,
# which the objects document already grants. X-Ray stays in the objects document (Resource "*":
# xray:PutTraceSegments and xray:PutTelemetryRecords have no resource-level permissions).
data "aws_iam_policy_document" "outcomes" {
  source_policy_documents = [data.aws_iam_policy_document.records.json]

  dynamic "statement" {
    for_each = var.create_status_table ? ["${aws_dynamodb_table.this[0].arn}/index/${local.status_index_name}"] : []

    content {
      sid       = "ListStatusItemsByTheIndex"
      actions   = ["dynamodb:Query"]
      resources = [statement.value]
    }
  }
}

data "aws_iam_policy_document" "records" {
  dynamic "statement" {
    for_each = var.create_status_table ? [aws_dynamodb_table.this[0].arn] : []

    content {
      sid = "ReadAndWriteStatusItems"
      # UpdateItem with a condition on the event's sequencer; GetItem reads an item back when a
      # condition refused the write.
      actions   = ["dynamodb:GetItem", "dynamodb:UpdateItem"]
      resources = [statement.value]
    }
  }

  statement {
    sid       = "PutOutcomeEvents"
    actions   = ["events:PutEvents"]
    resources = [local.event_bus_arn]
  }

  dynamic "statement" {
    for_each = var.pipeline_config_parameter_name == null ? [] : [local.pipeline_config_parameter_arn]

    content {
      sid       = "ReadThePipelineParameter"
      actions   = ["ssm:GetParameter"]
      resources = [statement.value]
    }
  }
}
