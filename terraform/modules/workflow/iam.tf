################################################################################
# Function roles: one per function, each with exactly what its task does
################################################################################

data "aws_iam_policy_document" "lambda_assume_role" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "function" {
  for_each = local.function_names

  name                 = "${each.value}-function"
  description          = "Execution role of the ${each.value} function"
  assume_role_policy   = data.aws_iam_policy_document.lambda_assume_role.json
  permissions_boundary = var.role_permissions_boundary
  tags                 = var.tags
}

locals {
  # The tasks that run the pipeline on an object get what the imgpipe function gets (its buckets,
  # key, status table, bus, parameter), from the one document that module writes. Inspect, which
  # parses the upload's untrusted header, and RecordFailure, which only records, make nothing:
  # they get that module's narrower documents, without the writes and deletes of outputs, results
  # and quarantine. Not Moderate, which decodes the upload and asks Rekognition, and writes
  # nothing: it reads the upload alone.
  pipeline_tasks = ["process", "quarantine", "reprocess-batch"]
  imgpipe_policies = merge(
    { for key in local.pipeline_tasks : key => var.pipeline_policy_json },
    { inspect = var.inspect_policy_json, fail = var.record_policy_json },
  )
  # The tasks that read the upload itself, the version the event names, and nothing else of the pipeline.
  upload_readers = ["scan", "moderate"]
}

data "aws_iam_policy_document" "function" {
  for_each = local.function_names

  source_policy_documents = contains(keys(local.imgpipe_policies), each.key) ? [local.imgpipe_policies[each.key]] : []

  statement {
    sid       = "WriteLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${local.log_group_arns[each.key]}:log-stream:*"]
  }

  # The imgpipe module's documents have it already.
  dynamic "statement" {
    for_each = contains(keys(local.imgpipe_policies), each.key) ? [] : [each.key]

    content {
      sid       = "WriteTraces"
      actions   = ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]
      resources = ["*"]
    }
  }

  # The tasks without an imgpipe document (moderate, reprocess-plan, reprocess-summarize) read the
  # pipeline document at their init too (src/handlers/lambda.ts): with it in Parameter Store and no
  # grant, their init failed with AccessDenied and every bulk reprocessing failed at its first state.
  dynamic "statement" {
    for_each = local.config_parameter_arn != null && contains(keys(local.functions), each.key) && !contains(keys(local.imgpipe_policies), each.key) ? [local.config_parameter_arn] : []

    content {
      sid       = "ReadThePipelineParameter"
      actions   = ["ssm:GetParameter"]
      resources = [statement.value]
    }
  }

  # A SecureString parameter is encrypted with the deployment's key (modules/imgpipe,
  # pipeline_config_parameter_name), and GetParameter decrypts it with the caller's kms:Decrypt:
  # without it reprocess-plan's init failed with AccessDenied all the same. Only for that
  # parameter (SSM's encryption context names it).
  dynamic "statement" {
    for_each = local.config_parameter_arn != null && contains(keys(local.functions), each.key) && !contains(keys(local.imgpipe_policies), each.key) ? [local.config_parameter_arn] : []

    content {
      sid       = "DecryptThePipelineParameter"
      actions   = ["kms:Decrypt"]
      resources = [var.kms_key_arn]

      condition {
        test     = "StringEquals"
        variable = "kms:EncryptionContext:PARAMETER_ARN"
        values   = [statement.value]
      }
    }
  }

  # Rekognition has no resource-level permissions for DetectModerationLabels: "*" is the only
  # resource it accepts (the Service Authorization Reference lists no resource type for it).
  dynamic "statement" {
    for_each = each.key == "moderate" ? [each.key] : []

    content {
      sid       = "ModerateImages"
      actions   = ["rekognition:DetectModerationLabels"]
      resources = ["*"]
    }
  }

  # Summarize reads the Distributed Map's result files and writes the run's summary beside them.
  dynamic "statement" {
    for_each = each.key == "reprocess-summarize" ? [each.key] : []

    content {
      sid       = "ReadResultsWriteSummary"
      actions   = ["s3:GetObject", "s3:PutObject"]
      resources = ["${module.bucket.s3_bucket_arn}/${local.results_prefix}*"]
    }
  }

  # A map run without child executions (an empty prefix) may write no manifest: Summarize lists its
  # folder to tell that from lost results, and without ListBucket S3 answers the manifest's GET with
  # 403 instead of 404 (src/handlers/reprocess.ts resultManifest).
  dynamic "statement" {
    for_each = each.key == "reprocess-summarize" ? [each.key] : []

    content {
      sid       = "ListResults"
      actions   = ["s3:ListBucket"]
      resources = [module.bucket.s3_bucket_arn]

      condition {
        test     = "StringLike"
        variable = "s3:prefix"
        values   = ["${local.results_prefix}*"]
      }
    }
  }

  # The scanner and Moderate read the upload they check; the scanner the database too, which the
  # update also writes.
  dynamic "statement" {
    for_each = contains(local.upload_readers, each.key) ? [each.key] : []

    content {
      sid       = "ReadUploads"
      actions   = ["s3:GetObject", "s3:GetObjectVersion"]
      resources = ["arn:${local.partition}:s3:::${var.source_bucket_name}/*"]
    }
  }

  # Without ListBucket, S3 answers a GET of a missing object with 403 instead of 404: the task would
  # fail where it passes the upload on as missing (the Process task records it).
  dynamic "statement" {
    for_each = contains(local.upload_readers, each.key) ? [each.key] : []

    content {
      sid       = "TellMissingUploadsApart"
      actions   = ["s3:ListBucket"]
      resources = ["arn:${local.partition}:s3:::${var.source_bucket_name}"]
    }
  }

  dynamic "statement" {
    for_each = contains(["scan", "update-database"], each.key) ? [each.key] : []

    content {
      sid       = "ListTheDatabase"
      actions   = ["s3:ListBucket"]
      resources = [module.bucket.s3_bucket_arn]

      condition {
        test     = "StringLike"
        variable = "s3:prefix"
        values   = ["${local.signatures_prefix}*"]
      }
    }
  }

  dynamic "statement" {
    for_each = each.key == "scan" ? [each.key] : []

    content {
      sid       = "ReadTheDatabase"
      actions   = ["s3:GetObject"]
      resources = ["${module.bucket.s3_bucket_arn}/${local.signatures_prefix}*"]
    }
  }

  dynamic "statement" {
    for_each = each.key == "update-database" ? [each.key] : []

    content {
      sid       = "ReadAndWriteTheDatabase"
      actions   = ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"]
      resources = ["${module.bucket.s3_bucket_arn}/${local.signatures_prefix}*"]
    }
  }

  dynamic "statement" {
    for_each = contains(local.upload_readers, each.key) ? [each.key] : []

    content {
      sid       = "DecryptWithTheKey"
      actions   = ["kms:Decrypt"]
      resources = [var.kms_key_arn]
    }
  }

  dynamic "statement" {
    for_each = contains(["update-database", "reprocess-summarize"], each.key) ? [each.key] : []

    content {
      sid       = "UseTheKey"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [var.kms_key_arn]
    }
  }
}

resource "aws_iam_role_policy" "function" {
  for_each = local.function_names

  name   = "imgpipe"
  role   = aws_iam_role.function[each.key].id
  policy = data.aws_iam_policy_document.function[each.key].json
}

################################################################################
# State machine roles
################################################################################

data "aws_iam_policy_document" "states_assume_role" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["states.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "state_machine" {
  for_each = local.state_machine_names

  name                 = "${each.value}-state-machine"
  description          = "Execution role of the ${each.value} state machine"
  assume_role_policy   = data.aws_iam_policy_document.states_assume_role.json
  permissions_boundary = var.role_permissions_boundary
  tags                 = var.tags
}

locals {
  # The functions each state machine invokes.
  state_machine_functions = {
    upload    = [for key in ["inspect", "scan", "moderate", "process", "quarantine", "fail"] : local.invoke_arns[key] if contains(keys(local.invoke_arns), key)]
    reprocess = [for key in ["reprocess-plan", "reprocess-batch", "reprocess-summarize"] : local.invoke_arns[key]]
  }
}

data "aws_iam_policy_document" "state_machine" {
  for_each = local.state_machine_names

  statement {
    sid       = "InvokeTheTaskFunctions"
    actions   = ["lambda:InvokeFunction"]
    resources = local.state_machine_functions[each.key]
  }

  # Execution logs go through CloudWatch Logs' log delivery, whose actions take no resource ARN
  # ("*" is what Step Functions documents for logging to CloudWatch Logs).
  statement {
    sid = "DeliverExecutionLogs"
    actions = [
      "logs:CreateLogDelivery",
      "logs:DeleteLogDelivery",
      "logs:DescribeLogGroups",
      "logs:DescribeResourcePolicies",
      "logs:GetLogDelivery",
      "logs:ListLogDeliveries",
      "logs:PutResourcePolicy",
      "logs:UpdateLogDelivery",
    ]
    resources = ["*"]
  }

  statement {
    sid       = "WriteTraces"
    actions   = ["xray:GetSamplingRules", "xray:GetSamplingTargets", "xray:PutTelemetryRecords", "xray:PutTraceSegments"]
    resources = ["*"]
  }

  # Bulk reprocessing: the Distributed Map lists the source bucket itself (ItemReader), runs its
  # batches as child executions of this state machine, and writes their results to the workflow
  # bucket (ResultWriter).
  dynamic "statement" {
    for_each = each.key == "reprocess" ? [each.key] : []

    content {
      sid       = "ListTheSourceBucket"
      actions   = ["s3:ListBucket"]
      resources = ["arn:${local.partition}:s3:::${var.source_bucket_name}"]
    }
  }

  dynamic "statement" {
    for_each = each.key == "reprocess" ? [each.key] : []

    content {
      sid       = "WriteResults"
      actions   = ["s3:AbortMultipartUpload", "s3:GetObject", "s3:ListMultipartUploadParts", "s3:PutObject"]
      resources = ["${module.bucket.s3_bucket_arn}/${local.results_prefix}*"]
    }
  }

  dynamic "statement" {
    for_each = each.key == "reprocess" ? [each.key] : []

    content {
      sid       = "UseTheKeyForResults"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [var.kms_key_arn]
    }
  }

  dynamic "statement" {
    for_each = each.key == "reprocess" ? [each.key] : []

    content {
      sid       = "RunChildExecutions"
      actions   = ["states:StartExecution"]
      resources = [local.state_machine_arns.reprocess]
    }
  }

  dynamic "statement" {
    for_each = each.key == "reprocess" && var.upload_workflow_enabled ? [each.key] : []

    content {
      sid       = "RunTheUploadWorkflowPerObject"
      actions   = ["states:StartSyncExecution"]
      resources = [local.state_machine_arns.upload]
    }
  }

  dynamic "statement" {
    for_each = each.key == "reprocess" ? [each.key] : []

    content {
      sid       = "FollowAndStopChildExecutions"
      actions   = ["states:DescribeExecution", "states:StopExecution"]
      resources = ["${local.arn}:states:${local.region}:${local.account_id}:execution:${local.state_machine_names.reprocess}/*"]
    }
  }

  dynamic "statement" {
    for_each = each.key == "reprocess" ? [each.key] : []

    content {
      sid       = "RedriveMapRuns"
      actions   = ["states:RedriveExecution"]
      resources = ["${local.arn}:states:${local.region}:${local.account_id}:mapRun:${local.state_machine_names.reprocess}/*:*"]
    }
  }
}

resource "aws_iam_role_policy" "state_machine" {
  for_each = local.state_machine_names

  name   = "imgpipe"
  role   = aws_iam_role.state_machine[each.key].id
  policy = data.aws_iam_policy_document.state_machine[each.key].json
}

################################################################################
# EventBridge starts the per-upload workflow; Scheduler runs the database update
################################################################################

data "aws_iam_policy_document" "events_assume_role" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "events" {
  count = var.upload_workflow_enabled ? 1 : 0

  name                 = "${var.name}-upload-rule"
  description          = "Lets the ${var.name}-upload rule start the per-upload state machine"
  assume_role_policy   = data.aws_iam_policy_document.events_assume_role.json
  permissions_boundary = var.role_permissions_boundary
  tags                 = var.tags
}

data "aws_iam_policy_document" "events" {
  count = var.upload_workflow_enabled ? 1 : 0

  statement {
    sid       = "StartTheUploadWorkflow"
    actions   = ["states:StartExecution"]
    resources = [local.state_machine_arns.upload]
  }
}

resource "aws_iam_role_policy" "events" {
  count = var.upload_workflow_enabled ? 1 : 0

  name   = "imgpipe"
  role   = aws_iam_role.events[0].id
  policy = data.aws_iam_policy_document.events[0].json
}

data "aws_iam_policy_document" "scheduler_assume_role" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "scheduler" {
  count = contains(keys(local.scanner_tasks), "update-database") ? 1 : 0

  name                 = "${var.name}-update-database-schedule"
  description          = "Lets the ${var.name}-update-database schedule invoke the database update"
  assume_role_policy   = data.aws_iam_policy_document.scheduler_assume_role.json
  permissions_boundary = var.role_permissions_boundary
  tags                 = var.tags
}

data "aws_iam_policy_document" "scheduler" {
  count = contains(keys(local.scanner_tasks), "update-database") ? 1 : 0

  statement {
    sid       = "InvokeTheDatabaseUpdate"
    actions   = ["lambda:InvokeFunction"]
    resources = [local.invoke_arns["update-database"]]
  }
}

resource "aws_iam_role_policy" "scheduler" {
  count = contains(keys(local.scanner_tasks), "update-database") ? 1 : 0

  name   = "imgpipe"
  role   = aws_iam_role.scheduler[0].id
  policy = data.aws_iam_policy_document.scheduler[0].json
}
