resource "aws_cloudwatch_log_group" "this" {
  name              = local.log_group_name
  retention_in_days = var.log_retention_in_days
  kms_key_id        = module.kms.key_arn
  tags              = var.tags
}

resource "aws_lambda_function" "this" {
  function_name = var.name
  description   = "imgpipe: validates, orients, resizes and re-encodes images uploaded to ${local.bucket_names.source}"
  role          = aws_iam_role.this.arn
  package_type  = "Image"
  image_uri     = local.image_uri
  architectures = var.architectures
  memory_size   = var.memory_size
  timeout       = var.timeout
  # Every apply that changes the code or configuration publishes a version for the alias to route to.
  publish                        = true
  reserved_concurrent_executions = var.reserved_concurrent_executions
  tags                           = var.tags

  ephemeral_storage {
    size = var.ephemeral_storage_size
  }

  environment {
    variables = local.environment
  }

  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.this.name
    # Never above INFO: Lambda counts lines without a level, the EMF metrics among them, as INFO
    # and would drop them. Powertools applies log_level to its own lines.
    application_log_level = var.log_level == "DEBUG" ? "DEBUG" : "INFO"
    # INFO: the platform.report record of each invocation (duration, billed duration, max memory
    # used, init duration) is logged at INFO; at WARN it is dropped, and with it what the memory
    # sweep (bench/sweep/report-line.ts) and Logs Insights read.
    system_log_level = "INFO"
  }

  dynamic "vpc_config" {
    for_each = local.vpc_config

    content {
      subnet_ids         = vpc_config.value.subnet_ids
      security_group_ids = vpc_config.value.security_group_ids
    }
  }

  tracing_config {
    mode = local.tracing_mode
  }

  lifecycle {
    precondition {
      condition     = local.environment_bytes.function <= local.lambda_environment_limit
      error_message = "The environment of ${var.name} is ${local.environment_bytes.function} ${local.environment_too_large}"
    }

    precondition {
      condition     = local.image_digest != null
      error_message = "image_digests has no digest for the function's architecture (${local.architecture}). Build and push the ${local.image_platform} image to ${module.ecr.ecr_repository_url} and pass its digest (see terraform/README.md, \"Deploying to AWS\")."
    }
  }

  depends_on = [aws_iam_role_policy.this, aws_iam_role_policy.vpc]
}

# CodeDeploy moves the alias (codedeploy.tf): Terraform creates it on the version the first apply
# publishes and never touches its version or weights again, so a plain apply neither interrupts a
# deployment nor routes traffic back to a version CodeDeploy rolled back from.
resource "aws_lambda_alias" "this" {
  name             = "live"
  description      = "Receives every S3 event; CodeDeploy shifts it from version to version (terraform/README.md, \"Releases\")."
  function_name    = aws_lambda_function.this.function_name
  function_version = local.published_version

  lifecycle {
    ignore_changes = [function_version, routing_config]
  }
}

# On the version number, not the alias: Lambda refuses provisioned concurrency on an alias with a
# routing configuration. On the version this apply published, the one the next deployment shifts
# to: it is warm before CodeDeploy sends it traffic (CodeDeploy waits for it), while the version
# being replaced serves the rest of the deployment on demand.
resource "aws_lambda_provisioned_concurrency_config" "this" {
  count = var.provisioned_concurrent_executions > 0 ? 1 : 0

  function_name                     = aws_lambda_function.this.function_name
  qualifier                         = local.published_version
  provisioned_concurrent_executions = var.provisioned_concurrent_executions

  lifecycle {
    # The new version is warm before the old one's configuration goes.
    create_before_destroy = true
  }
}

resource "aws_lambda_function_event_invoke_config" "this" {
  function_name                = aws_lambda_function.this.function_name
  qualifier                    = aws_lambda_alias.this.name
  maximum_retry_attempts       = var.maximum_retry_attempts
  maximum_event_age_in_seconds = var.maximum_event_age_in_seconds

  destination_config {
    on_failure {
      destination = aws_sqs_queue.this.arn
    }
  }

  # Lambda checks that the function's role may send to the destination.
  depends_on = [aws_iam_role_policy.this]
}
