# Releases of the task functions, of the imgpipe image and of the scanner image: as the imgpipe function's (../imgpipe/
# codedeploy.tf), CodeDeploy shifts each one's `live` alias from the version it routes to to the one
# this apply published, with release_deployment_config, in a deployment group of the release's
# application (task-<key>), and rolls it back on its alarm or a stop. The state machines invoke the
# alias, so a canary's weight is that share of their invocations; the alarm reads the new version's
# errors behind the alias (dimension ExecutedVersion), so the version being replaced does not count.
# deploy.yml creates the deployments once the imgpipe function's release succeeded.

locals {
  # Every function the state machines or the schedule invoke through its alias: the imgpipe image's
  # tasks and the scanner image's (functions.tf).
  released      = merge(aws_lambda_function.image, aws_lambda_function.scanner)
  task_releases = var.codedeploy_app_name == null ? {} : local.released
}

resource "aws_cloudwatch_metric_alarm" "release" {
  for_each = local.task_releases

  alarm_name        = "${var.name}-${each.key}-release-errors"
  alarm_description = "Errors of version ${each.value.version} of ${local.function_names[each.key]} behind its ${local.task_alias} alias: CodeDeploy rolls its release back (no notification)."
  namespace         = "AWS/Lambda"
  metric_name       = "Errors"
  dimensions = {
    FunctionName    = local.function_names[each.key]
    Resource        = "${local.function_names[each.key]}:${local.task_alias}"
    ExecutedVersion = each.value.version
  }
  statistic = "Sum"
  period    = 60
  # Any error of the new version: a state machine retries a task, so one that throws is not a blip.
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  tags                = var.tags
}

# The release role (../imgpipe/codedeploy.tf) may read the alarms of <name>-*; it also moves these aliases.
data "aws_iam_policy_document" "codedeploy" {
  count = length(local.task_releases) > 0 ? 1 : 0

  statement {
    sid       = "ShiftTheTaskAliases"
    actions   = ["lambda:GetAlias", "lambda:GetProvisionedConcurrencyConfig", "lambda:UpdateAlias"]
    resources = flatten([for key in keys(local.task_releases) : [local.function_arns[key], "${local.function_arns[key]}:*"]])
  }
}

resource "aws_iam_role_policy" "codedeploy" {
  count = length(local.task_releases) > 0 ? 1 : 0

  name   = "imgpipe-codedeploy-tasks"
  role   = var.codedeploy_role_name
  policy = data.aws_iam_policy_document.codedeploy[0].json

  lifecycle {
    precondition {
      condition     = var.codedeploy_role_name != null
      error_message = "codedeploy_role_name is needed with codedeploy_app_name: the role the task functions' deployment groups release with."
    }
  }
}

resource "aws_codedeploy_deployment_group" "this" {
  for_each = local.task_releases

  app_name               = var.codedeploy_app_name
  deployment_group_name  = "task-${each.key}"
  service_role_arn       = "${local.arn}:iam::${local.account_id}:role/${var.codedeploy_role_name}"
  deployment_config_name = var.release_deployment_config
  tags                   = var.tags

  deployment_style {
    deployment_option = "WITH_TRAFFIC_CONTROL"
    deployment_type   = "BLUE_GREEN"
  }

  auto_rollback_configuration {
    enabled = true
    events  = ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM", "DEPLOYMENT_STOP_ON_REQUEST"]
  }

  alarm_configuration {
    enabled                   = true
    alarms                    = [aws_cloudwatch_metric_alarm.release[each.key].alarm_name]
    ignore_poll_alarm_failure = false
  }

  depends_on = [aws_iam_role_policy.codedeploy]
}
