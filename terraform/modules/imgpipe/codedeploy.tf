# Releases: CodeDeploy shifts the `live` alias from the version it routes to (CurrentVersion) to the
# version this apply published (TargetVersion), with the release_deployment_config canary or linear
# steps. The deploy workflow creates the deployment with an AppSpec naming both; from then on
# everything runs on AWS: the BeforeAllowTraffic hook runs the new version on known objects, the
# traffic shifts, the AfterAllowTraffic hook checks the alias, and CodeDeploy rolls the alias back on
# a failed hook, an alarm of the deployment group, or a stop. Terraform created the alias and ignores
# its version and weights (lambda.tf).

resource "aws_codedeploy_app" "this" {
  name             = var.name
  compute_platform = "Lambda"
  tags             = var.tags
}

data "aws_iam_policy_document" "codedeploy_assume_role" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["codedeploy.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "codedeploy" {
  name                 = "${var.name}-codedeploy"
  description          = "CodeDeploy shifts the live alias of ${var.name} and runs its release hooks"
  assume_role_policy   = data.aws_iam_policy_document.codedeploy_assume_role.json
  permissions_boundary = var.role_permissions_boundary
  tags                 = var.tags
}

# What AWSCodeDeployRoleForLambda grants, narrowed to this function, its hooks and its alarms.
data "aws_iam_policy_document" "codedeploy" {
  statement {
    sid       = "ShiftTheAlias"
    actions   = ["lambda:GetAlias", "lambda:GetProvisionedConcurrencyConfig", "lambda:UpdateAlias"]
    resources = [aws_lambda_function.this.arn, "${aws_lambda_function.this.arn}:*"]
  }

  statement {
    sid       = "RunTheReleaseHooks"
    actions   = ["lambda:InvokeFunction"]
    resources = [for hook in aws_lambda_function.release_check : hook.arn]
  }

  statement {
    sid       = "ReadTheReleaseAlarms"
    actions   = ["cloudwatch:DescribeAlarms"]
    resources = ["arn:${local.partition}:cloudwatch:${local.region}:${local.account_id}:alarm:${var.name}-*"]
  }
}

resource "aws_iam_role_policy" "codedeploy" {
  name   = "imgpipe-codedeploy"
  role   = aws_iam_role.codedeploy.id
  policy = data.aws_iam_policy_document.codedeploy.json
}

locals {
  # Every alarm CodeDeploy watches during a deployment (monitoring.tf, `release = true`).
  release_alarm_names = sort(concat(
    [for key, alarm in local.alarms : "${var.name}-${key}" if alarm.release],
    [for key, alarm in local.canary_alarms : "${var.name}-${key}" if alarm.release],
    [for key, alarm in local.ratio_alarms : "${var.name}-${key}" if alarm.release],
  ))
}

resource "aws_codedeploy_deployment_group" "this" {
  app_name               = aws_codedeploy_app.this.name
  deployment_group_name  = "live"
  service_role_arn       = aws_iam_role.codedeploy.arn
  deployment_config_name = var.release_deployment_config
  tags                   = var.tags

  deployment_style {
    deployment_option = "WITH_TRAFFIC_CONTROL"
    deployment_type   = "BLUE_GREEN"
  }

  # Rolled back on AWS's side whatever happens to the runner that started it: a failed hook, an
  # alarm, or `aws deploy stop-deployment --auto-rollback-enabled`.
  auto_rollback_configuration {
    enabled = true
    events  = ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM", "DEPLOYMENT_STOP_ON_REQUEST"]
  }

  alarm_configuration {
    enabled = true
    alarms  = local.release_alarm_names
    # An alarm CloudWatch cannot evaluate stops the deployment rather than being skipped.
    ignore_poll_alarm_failure = false
  }

  depends_on = [aws_iam_role_policy.codedeploy, aws_cloudwatch_metric_alarm.this, aws_cloudwatch_metric_alarm.canary, aws_cloudwatch_metric_alarm.ratio]
}

################################################################################
# The release hooks: the same image, with the release check entry points
################################################################################

locals {
  release_hooks = {
    BeforeAllowTraffic = { name = "${var.name}-before-traffic", command = "index.releaseCheck" }
    AfterAllowTraffic  = { name = "${var.name}-after-traffic", command = "index.releaseCheckAfter" }
  }
  # src/core/layout.ts RELEASE_CHECK_PREFIX: the known objects the release workflow uploads.
  release_check_prefix = "imgpipe-release-check/"

  # The manifest key the function gives the release check photo (src/core/layout.ts manifestKey),
  # which the deploy workflow waits for after uploading it: the output prefix, then the manifest
  # template (IMGPIPE_MANIFEST_TEMPLATE, else the pipeline document's manifestTemplate, else
  # DEFAULT_MANIFEST_TEMPLATE) with the photo's key in its tokens. Null when the document is in
  # Parameter Store and no IMGPIPE_MANIFEST_TEMPLATE is set: Terraform does not read the parameter.
  release_check_photo_key = "${local.release_check_prefix}photo.jpg"
  release_check_manifest_template = (
    trimspace(lookup(var.environment_variables, "IMGPIPE_MANIFEST_TEMPLATE", "")) != "" ? trimspace(var.environment_variables.IMGPIPE_MANIFEST_TEMPLATE)
    : var.pipeline_config != null ? try(tostring(jsondecode(var.pipeline_config).manifestTemplate), "manifests/{key}.json")
    : var.pipeline_config_parameter_name != null ? null
    : "manifests/{key}.json"
  )
  release_check_manifest_key = local.release_check_manifest_template == null ? null : "${var.output_prefix}${replace(replace(replace(replace(local.release_check_manifest_template,
    "{key}", local.release_check_photo_key),
    "{dir}", local.release_check_prefix),
    "{name}", "photo"),
  "{srcext}", "jpg")}"
}

data "aws_iam_policy_document" "release_check_assume_role" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "release_check" {
  name                 = "${var.name}-release-check"
  description          = "The release hooks of ${var.name}: run the new version on known objects and report to CodeDeploy"
  assume_role_policy   = data.aws_iam_policy_document.release_check_assume_role.json
  permissions_boundary = var.role_permissions_boundary
  tags                 = var.tags
}

data "aws_iam_policy_document" "release_check" {
  statement {
    sid       = "ReadTheDeploymentAndReportTheVerdict"
    actions   = ["codedeploy:GetDeployment", "codedeploy:PutLifecycleEventHookExecutionStatus"]
    resources = ["arn:${local.partition}:codedeploy:${local.region}:${local.account_id}:deploymentgroup:${var.name}/live"]
  }

  statement {
    sid = "InvokeTheNewVersionAndReadTheAlias"
    # Qualified ARNs: a version (BeforeAllowTraffic) or the alias (AfterAllowTraffic).
    actions   = ["lambda:GetAlias", "lambda:InvokeFunction"]
    resources = ["${aws_lambda_function.this.arn}:*"]
  }

  statement {
    sid       = "ReadTheCheckObjects"
    actions   = ["s3:GetObject"]
    resources = ["${module.source_bucket.s3_bucket_arn}/${local.release_check_prefix}*"]
  }

  statement {
    sid       = "ReadTheCheckOutputsAndManifests"
    actions   = ["s3:GetObject"]
    resources = ["${module.output_bucket.s3_bucket_arn}/${var.output_prefix}*"]
  }

  statement {
    sid = "ResetTheCheckManifests"
    # The photo's manifest is deleted before each check, or the version would skip it as a duplicate.
    # Every manifest template holds {key}, or {dir} and {name} (src/core/layout.ts), so the check
    # photo's manifest key holds its folder: the hooks may delete no user's outputs or manifests.
    actions   = ["s3:DeleteObject"]
    resources = ["${module.output_bucket.s3_bucket_arn}/${var.output_prefix}*${local.release_check_prefix}*"]
  }

  statement {
    sid = "ReadAndResetTheCheckQuarantineRecords"
    # The bad file's reason record is deleted before each check, or the version would count it as a
    # duplicate of the last check's quarantine instead of quarantining it.
    actions   = ["s3:DeleteObject", "s3:GetObject"]
    resources = ["${module.quarantine_bucket.s3_bucket_arn}/reasons/${local.release_check_prefix}*"]
  }

  statement {
    sid       = "ListSoMissingKeysAre404"
    actions   = ["s3:ListBucket"]
    resources = [module.source_bucket.s3_bucket_arn, module.output_bucket.s3_bucket_arn, module.quarantine_bucket.s3_bucket_arn]
  }

  statement {
    sid       = "UseTheKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [module.kms.key_arn]
  }

  statement {
    sid       = "WriteLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [for hook in local.release_hooks : "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/lambda/${hook.name}:log-stream:*"]
  }

  statement {
    sid       = "WriteTraces"
    actions   = ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]
    resources = ["*"]
  }

  # The hooks run the image's init with the function's environment, which reads the pipeline
  # document from IMGPIPE_CONFIG_PARAMETER (a SecureString decrypts with the key above): without
  # it their init fails, no verdict is reported, and CodeDeploy fails the release after its hour.
  dynamic "statement" {
    for_each = var.pipeline_config_parameter_name == null ? [] : [local.pipeline_config_parameter_arn]

    content {
      sid       = "ReadThePipelineParameter"
      actions   = ["ssm:GetParameter"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role_policy" "release_check" {
  name   = "imgpipe-release-check"
  role   = aws_iam_role.release_check.id
  policy = data.aws_iam_policy_document.release_check.json
}

resource "aws_cloudwatch_log_group" "release_check" {
  for_each = local.release_hooks

  name              = "/aws/lambda/${each.value.name}"
  retention_in_days = var.log_retention_in_days
  kms_key_id        = module.kms.key_arn
  tags              = var.tags
}

# $LATEST of each hook runs the image this apply deployed, so the check that judges a release is the
# release's own. It invokes the version synchronously, the check objects at once: its timeout covers
# one run of the function's and 90 s for the rest. The check stops 15 s before the hook's timeout
# (REPORT_MARGIN_MS in src/handlers/release-check.ts) and reports Failed if it has not finished, so
# with a function timeout above 810 s a run that long fails the release instead of going unreported.
resource "aws_lambda_function" "release_check" {
  for_each = local.release_hooks

  function_name = each.value.name
  description   = "imgpipe ${each.key} hook: ${each.value.command} (terraform/README.md, \"Releases\")"
  role          = aws_iam_role.release_check.arn
  package_type  = "Image"
  image_uri     = local.image_uri
  architectures = var.architectures
  memory_size   = 512
  timeout       = min(900, var.timeout + 90)
  tags          = var.tags

  image_config {
    command = [each.value.command]
  }

  environment {
    variables = local.release_check_environment
  }

  logging_config {
    log_format            = "JSON"
    log_group             = aws_cloudwatch_log_group.release_check[each.key].name
    application_log_level = "INFO"
    system_log_level      = "WARN"
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
      condition     = local.environment_bytes.release_check <= local.lambda_environment_limit
      error_message = "The environment of ${each.value.name} is ${local.environment_bytes.release_check} ${local.environment_too_large}"
    }
  }

  depends_on = [aws_iam_role_policy.release_check, aws_iam_role_policy.vpc]
}
