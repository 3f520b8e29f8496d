locals {
  # The filters as EventBridge wildcard patterns, "<prefix>*<suffix>". In a wildcard `*` matches any
  # run of characters and `\` escapes, so a `*` or `\` of a prefix or suffix is written `\*` or `\\`
  # and matched literally, as S3's own filters, Inspect and bulk reprocessing
  # (IMGPIPE_REPROCESS_KEY_FILTERS) match it: unescaped, the prefix `raw*/` started the workflow for keys
  # such as `raw-old/a.jpg`, and a prefix ending in `*` gave `**`, which EventBridge refuses.
  upload_key_wildcards = [for filter in values(var.source_notification_filters) :
    "${replace(replace(filter.prefix, "\\", "\\\\"), "*", "\\*")}*${replace(replace(filter.suffix, "\\", "\\\\"), "*", "\\*")}"
  ]
}

# S3 sends the source bucket's events to the default bus (the imgpipe module's
# source_events_to_eventbridge); this rule starts the per-upload workflow for each Object Created
# event of a key the filters match. S3 delivers at least once, and so does EventBridge: a repeated
# execution finds the manifest current (the Inspect task) and ends as `duplicate`, or, while the
# first still runs, its claim on the status item and ends `ignored` (README, "One run per event").
resource "aws_cloudwatch_event_rule" "this" {
  count = var.upload_workflow_enabled ? 1 : 0

  name        = "${var.name}-upload"
  description = "${var.name}: every upload to ${var.source_bucket_name} starts the ${local.state_machine_names.upload} state machine"
  state       = "ENABLED"
  tags        = var.tags

  event_pattern = jsonencode({
    source        = ["aws.s3"]
    "detail-type" = ["Object Created"]
    detail = {
      bucket = { name = [var.source_bucket_name] }
      object = {
        key = [for wildcard in local.upload_key_wildcards : { wildcard = wildcard }]
      }
    }
  })
}

resource "aws_cloudwatch_event_target" "this" {
  count = var.upload_workflow_enabled ? 1 : 0

  rule      = aws_cloudwatch_event_rule.this[0].name
  target_id = "upload-workflow"
  arn       = aws_sfn_state_machine.this["upload"].arn
  role_arn  = aws_iam_role.events[0].arn

  # StartExecution throttled or refused: EventBridge retries for a day, then the event goes to
  # the queue, where the dead-letter alarm finds it.
  retry_policy {
    maximum_event_age_in_seconds = 86400
    maximum_retry_attempts       = 185
  }

  dead_letter_config {
    arn = aws_sqs_queue.this[0].arn
  }
}

# Events EventBridge could not deliver. SQS-managed encryption, not the deployment's key: the
# events service would need a grant in that key's policy for a queue of this module, and the
# messages are S3 events (bucket and key names), no content.
resource "aws_sqs_queue" "this" {
  count = var.upload_workflow_enabled ? 1 : 0

  name                      = "${var.name}-upload-dlq"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
  tags                      = var.tags
}

data "aws_iam_policy_document" "queue" {
  count = var.upload_workflow_enabled ? 1 : 0

  statement {
    sid       = "TheUploadRuleSendsUndeliveredEvents"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.this[0].arn]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.this[0].arn]
    }
  }
}

resource "aws_sqs_queue_policy" "this" {
  count = var.upload_workflow_enabled ? 1 : 0

  queue_url = aws_sqs_queue.this[0].id
  policy    = data.aws_iam_policy_document.queue[0].json
}
