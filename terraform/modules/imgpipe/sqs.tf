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
