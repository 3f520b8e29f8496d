# The two state machines, from the definitions the tests run (definitions/*.asl.json, rendered by
# templatefile with the ARNs and switches below and nothing else).

resource "aws_cloudwatch_log_group" "state_machine" {
  for_each = local.state_machine_names

  # Step Functions delivers to log groups whose names start with /aws/vendedlogs/ without the
  # 5,120-character resource policy limit biting (its logging guide).
  name              = "/aws/vendedlogs/states/${each.value}"
  retention_in_days = var.log_retention_in_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

locals {
  definitions = {
    upload = var.upload_workflow_enabled ? templatefile("${path.module}/definitions/upload.asl.json", {
      inspect_function_arn = local.invoke_arns.inspect
      # Named even with the malware scan off (its state is then skipped): the alias when it is on.
      scan_function_arn       = "${local.arn}:lambda:${local.region}:${local.account_id}:function:${var.name}-scan:${local.task_alias}"
      moderate_function_arn   = local.invoke_arns.moderate
      process_function_arn    = local.invoke_arns.process
      quarantine_function_arn = local.invoke_arns.quarantine
      fail_function_arn       = local.invoke_arns.fail
      malware_scan            = tostring(var.malware_scan_enabled)
      moderation              = tostring(var.moderation_enabled)
    }) : null
    reprocess = templatefile("${path.module}/definitions/reprocess.asl.json", {
      plan_function_arn      = local.invoke_arns["reprocess-plan"]
      batch_function_arn     = local.invoke_arns["reprocess-batch"]
      summarize_function_arn = local.invoke_arns["reprocess-summarize"]
      results_bucket         = local.bucket_name
      # With the per-upload workflow, each object goes through it (scan, moderation, pipeline);
      # its ARN is built from its name, since both machines are one for_each resource.
      upload_state_machine_arn = lookup(local.state_machine_arns, "upload", "")
    })
  }
}

# Express for the per-upload workflow: a run takes seconds, and uploads arrive at any rate
# (README.md, "Why Express"). Standard for bulk reprocessing: it runs for hours, and a Distributed
# Map needs a Standard parent to write results and be redriven.
resource "aws_sfn_state_machine" "this" {
  for_each = local.state_machines

  name       = local.state_machine_names[each.key]
  type       = each.value.type
  role_arn   = aws_iam_role.state_machine[each.key].arn
  definition = local.definitions[each.key]
  publish    = false
  tags       = var.tags

  logging_configuration {
    log_destination = "${aws_cloudwatch_log_group.state_machine[each.key].arn}:*"
    # Express workflows keep no execution history: their log is the only record, so it carries
    # the execution data (each state's input and output) at ALL.
    include_execution_data = true
    level                  = var.log_level
  }

  tracing_configuration {
    enabled = var.tracing_enabled
  }

  lifecycle {
    precondition {
      condition     = !(each.key == "upload" && var.malware_scan_enabled) || local.scanner_image_digest != null
      error_message = "malware_scan_enabled is true but scanner_image_digests has no digest for ${var.architectures[0]}: build scanner/Dockerfile, push it to ${module.scanner_ecr.ecr_repository_url} and pass its digest (terraform/README.md, \"Deployment modes\")."
    }
  }

  # The definition names the task functions' aliases (local.invoke_arns, by name): created first.
  depends_on = [aws_iam_role_policy.state_machine, aws_lambda_alias.this]
}
