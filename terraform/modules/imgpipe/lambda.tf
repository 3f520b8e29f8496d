resource "aws_cloudwatch_log_group" "this" {
  name              = local.log_group_name
  retention_in_days = var.log_retention_in_days
  kms_key_id        = aws_kms_key.this.arn
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
    system_log_level      = "WARN"
  }

  tracing_config {
    mode = local.tracing_mode
  }

  lifecycle {
    precondition {
      condition     = local.image_digest != null
      error_message = "image_digests has no digest for the function's architecture (${local.architecture}). Build and push the ${local.image_platform} image to ${module.ecr.ecr_repository_url} and pass its digest (see terraform/README.md, \"Deploying to AWS\")."
    }
  }

  depends_on = [aws_iam_role_policy.this]
}

resource "aws_lambda_alias" "this" {
  name             = "live"
  description      = "Receives every S3 event; routes to the live version and, during a canary, part of the traffic to the newest one."
  function_name    = aws_lambda_function.this.function_name
  function_version = local.live_version

  dynamic "routing_config" {
    for_each = local.canary ? [local.published_version] : []

    content {
      additional_version_weights = { (routing_config.value) = var.canary_weight }
    }
  }

  lifecycle {
    precondition {
      condition     = !local.canary || var.live_version != local.published_version
      error_message = "canary_weight is set but this apply published no version newer than live_version ${coalesce(var.live_version, "null")}: there is nothing to shift traffic to."
    }
  }

  # Provisioned concurrency is ready on the version before the alias sends it traffic.
  depends_on = [aws_lambda_provisioned_concurrency_config.this]
}

# On the version number, not the alias: Lambda refuses provisioned concurrency on an alias with a
# routing configuration, and a canary's share of traffic runs on demand.
resource "aws_lambda_provisioned_concurrency_config" "this" {
  count = var.provisioned_concurrent_executions > 0 ? 1 : 0

  function_name                     = aws_lambda_function.this.function_name
  qualifier                         = local.live_version
  provisioned_concurrent_executions = var.provisioned_concurrent_executions

  lifecycle {
    # When the live version moves, the new version is warm before the old one is released.
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
