# Asynchronous invocations that failed every retry, or outlived maximum_event_age_in_seconds, land
# here as Lambda invocation records (the original S3 event is in requestPayload).
# terraform/README.md, "Dead-letter queue", shows how to redrive them.
resource "aws_sqs_queue" "this" {
  name                              = "${var.name}-dlq"
  message_retention_seconds         = var.dead_letter_queue_message_retention_seconds
  kms_master_key_id                 = module.kms.key_arn
  kms_data_key_reuse_period_seconds = 3600
  tags                              = var.tags
}

# In the workflow mode, the Object Deleted events the source-deleted rule (s3.tf) could not deliver
# to the function (refused, or still throttled after its retry policy's day) land here as the
# events themselves, not as Lambda invocation records. terraform/README.md, "Dead-letter queue",
# shows how to hand them back to the function.
resource "aws_sqs_queue" "source_deleted" {
  count = var.source_events_to_eventbridge ? 1 : 0

  name                      = local.source_deleted_dlq_name
  message_retention_seconds = var.dead_letter_queue_message_retention_seconds
  # SQS-managed encryption (SSE-SQS), as the workflow's upload dead-letter queue: EventBridge sends
  # to a queue encrypted with a customer managed key only if that key's policy lets it, by
  # conditions no test here can check; this one needs none.
  sqs_managed_sse_enabled = true
  tags                    = var.tags
}

# That rule alone sends to it.
data "aws_iam_policy_document" "source_deleted_queue" {
  count = var.source_events_to_eventbridge ? 1 : 0

  statement {
    sid       = "TheSourceDeletedRuleSendsUndeliveredEvents"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.source_deleted[0].arn]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.source_deleted[0].arn]
    }
  }
}

resource "aws_sqs_queue_policy" "this" {
  count = var.source_events_to_eventbridge ? 1 : 0

  queue_url = aws_sqs_queue.source_deleted[0].id
  policy    = data.aws_iam_policy_document.source_deleted_queue[0].json
}
