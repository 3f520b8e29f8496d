################################################################################
# Task functions of the function image (index.workflow*, index.reprocess*)
################################################################################

resource "aws_cloudwatch_log_group" "function" {
  for_each = local.function_names

  name              = "/aws/lambda/${each.value}"
  retention_in_days = var.log_retention_in_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

# The imgpipe function's image and environment, the command selecting the task. Each apply
# publishes a version; the state machines invoke the `live` alias, which CodeDeploy shifts to that
# version (codedeploy.tf) only after it has released the image on the main function (deploy.yml),
# so a backfill never runs an image still in its canary, or one that was rolled back. The state
# machine retries, so Lambda's own asynchronous retries and dead-letter queue do not apply (Step
# Functions invokes synchronously).
resource "aws_lambda_function" "image" {
  for_each = local.functions

  function_name = local.function_names[each.key]
  description   = "imgpipe ${each.key}: ${each.value.description} (${each.value.command})"
  role          = aws_iam_role.function[each.key].arn
  package_type  = "Image"
  image_uri     = var.image_uri
  architectures = var.architectures
  memory_size   = coalesce(each.value.memory, var.memory_size)
  timeout       = each.value.timeout
  publish       = true
  tags          = var.tags

  image_config {
    command = [each.value.command]
  }

  # The task environment, with the upload filters for the reprocessing batch and Inspect (main.tf).
  environment {
    variables = local.image_environments[each.key]
  }

  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.function[each.key].name
    # Never above INFO: Lambda counts lines without a level, the EMF metrics among them, as INFO.
    application_log_level = "INFO"
    system_log_level      = "WARN"
  }

  tracing_config {
    mode = local.tracing_mode
  }

  lifecycle {
    precondition {
      condition     = local.environment_bytes[each.key] <= 4096
      error_message = "The environment of ${local.function_names[each.key]} is ${local.environment_bytes[each.key]} bytes as Lambda measures it (its variables as JSON, where each quote of the pipeline document in IMGPIPE_CONFIG counts twice), more than the 4096 Lambda accepts. Fewer source_notification_filters or moderation_categories, or put the pipeline document in Parameter Store (modules/imgpipe pipeline_config_parameter_name) instead."
    }
  }

  depends_on = [aws_iam_role_policy.function]
}

# Created on the first published version; later versions are the release's to route to (the
# deploy workflow's last step), never Terraform's, so an apply after a rollback keeps the old one.
# The scanner image's functions (below) too: the state machine and the schedule invoke the alias.
resource "aws_lambda_alias" "this" {
  for_each = local.released

  name             = local.task_alias
  description      = "The released version of ${local.function_names[each.key]}: moved by CodeDeploy after it released the image (deploy.yml)."
  function_name    = each.value.function_name
  function_version = each.value.version

  lifecycle {
    ignore_changes = [function_version]
  }
}

# The workflow mode's share of the tuned provisioned concurrency (tuning.tfvars.json): the Process
# task does the pipeline's work for every upload, as the imgpipe function does in the direct mode.
# As there (../imgpipe/lambda.tf), on the version number this apply published, which the deploy
# workflow moves the `live` alias to once the release succeeded: it is warm before the state machine
# invokes it, while the version being replaced serves on demand until the alias moves.
resource "aws_lambda_provisioned_concurrency_config" "this" {
  count = var.upload_workflow_enabled && var.process_provisioned_concurrent_executions > 0 ? 1 : 0

  function_name                     = aws_lambda_function.image["process"].function_name
  qualifier                         = aws_lambda_function.image["process"].version
  provisioned_concurrent_executions = var.process_provisioned_concurrent_executions

  lifecycle {
    # The new version is warm before the old one's configuration goes.
    create_before_destroy = true
  }
}

################################################################################
# The malware scanner (scanner/Dockerfile): scanner.handler and scanner.update
################################################################################

resource "aws_lambda_function" "scanner" {
  for_each = local.scanner_image_uri == null ? {} : local.scanner_tasks

  function_name = local.function_names[each.key]
  description   = "imgpipe ${each.key}: ${each.value.description} (${each.value.command})"
  role          = aws_iam_role.function[each.key].arn
  package_type  = "Image"
  image_uri     = local.scanner_image_uri
  architectures = var.architectures
  # clamd loads the database into memory once per execution environment (README.md, "Sizing").
  memory_size = each.value.memory
  timeout     = each.value.timeout
  # A version per apply, behind the live alias CodeDeploy moves (codedeploy.tf): a scanner image
  # that fails goes to a share of the scans and is rolled back, not to every upload at once.
  publish = true
  tags    = var.tags

  image_config {
    command = [each.value.command]
  }

  # The database is copied to /tmp (about 350 MB unpacked), and clamd and freshclam write their
  # temporary files there, the object being scanned among them.
  ephemeral_storage {
    size = var.scanner_ephemeral_storage_size
  }

  environment {
    variables = merge(local.scanner_environment, {
      POWERTOOLS_METRICS_FUNCTION_NAME = local.function_names[each.key]
    })
  }

  logging_config {
    log_format            = "JSON"
    log_group             = aws_cloudwatch_log_group.function[each.key].name
    application_log_level = "INFO"
    system_log_level      = "WARN"
  }

  tracing_config {
    mode = local.tracing_mode
  }

  depends_on = [aws_iam_role_policy.function]

  lifecycle {
    # An object of maxBytes would be quarantined as too-large by the scanner (README.md, "Sizing").
    precondition {
      condition     = each.key != "scan" || length(local.scanner_max_bytes_over) == 0
      error_message = "The scan function can scan objects of at most ${local.scanner_capacity_least.bytes} bytes, set by ${local.scanner_capacity_least.limit}, and ${join(" and ", [for name, value in local.scanner_max_bytes_over : "${name} is ${value}"])}: every upload over ${local.scanner_capacity_least.bytes} bytes would be quarantined as too-large. Raise scanner_memory_size (up to 10240) or scanner_ephemeral_storage_size (up to 10240), or lower maxBytes; no setting scans a file over 2147483645 bytes."
    }
  }
}

# The database update, on a schedule: freshclam asks ClamAV's mirrors for what changed since the
# copy in S3 and writes the result back.
resource "aws_scheduler_schedule" "this" {
  count = contains(keys(aws_lambda_function.scanner), "update-database") ? 1 : 0

  name                         = "${var.name}-update-database"
  description                  = "Brings the ClamAV signature database in s3://${local.bucket_name}/${local.signatures_prefix} up to date (freshclam)"
  schedule_expression          = var.signature_update_schedule
  schedule_expression_timezone = "UTC"

  flexible_time_window {
    mode                      = "FLEXIBLE"
    maximum_window_in_minutes = 15
  }

  target {
    arn      = aws_lambda_alias.this["update-database"].arn
    role_arn = aws_iam_role.scheduler[0].arn
    input    = "{}"

    retry_policy {
      maximum_retry_attempts       = 2
      maximum_event_age_in_seconds = 3600
    }
  }
}
