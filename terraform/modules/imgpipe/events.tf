################################################################################
# Outcome events: one per finished source object, on the deployment's bus or an existing one
################################################################################

# The deployment's own bus, unless event_bus_name names an existing one. It keeps EventBridge's
# AWS owned key: events stay on a bus only until they are delivered, and a customer managed key
# would add a key statement for EventBridge and a way to lose events the bus cannot decrypt.
resource "aws_cloudwatch_event_bus" "this" {
  count = var.event_bus_name == null ? 1 : 0

  name        = var.name
  description = "${var.name}: outcome events of every source object (source ${local.event_source})"
  tags        = var.tags
}

# An existing bus, e.g. default: read, so that a misspelt name fails the plan instead of every put.
data "aws_cloudwatch_event_bus" "existing" {
  count = var.event_bus_name == null ? 0 : 1

  name = var.event_bus_name
}

################################################################################
# Image alerts: quarantined and failed images, to people, within seconds
################################################################################

# A topic of its own, not the alarms topic: it reaches the people who deal with rejected uploads
# (content or security), at the rate uploads are rejected, with an event per image, while the
# alarms topic pages operators about the service's health, a few state changes a day. One topic
# for both would page operators for every bad upload or hide alarms among quarantines.
resource "aws_cloudwatch_event_rule" "this" {
  name           = local.image_alerts_name
  description    = "${var.name}: ${join(" and ", local.image_alert_detail_types)} events to the ${local.image_alerts_name} topic"
  event_bus_name = local.event_bus_name
  tags           = var.tags

  # Only this deployment's events: other sources on a shared bus such as default never reach the
  # topic, and neither do another deployment's in this account on the same bus (staging's uploads
  # on dev's topic), which share the source and detail-types and differ by their source bucket.
  # Nor do the release check's objects: every release quarantines one of them on purpose (the
  # BeforeAllowTraffic hook, codedeploy.tf), which mailed every subscriber in each environment.
  event_pattern = jsonencode({
    source        = [local.event_source]
    "detail-type" = local.image_alert_detail_types
    account       = [local.account_id]
    detail = {
      bucket = [module.source_bucket.s3_bucket_id]
      key    = [{ "anything-but" = { prefix = local.release_check_prefix } }]
    }
  })
}

# The whole event goes to the topic: e-mail readers see bucket, key, reason and message, and other
# subscribers (a queue, a chat integration) get the documented detail (src/bus/image-event.schema.json).
resource "aws_cloudwatch_event_target" "this" {
  rule           = aws_cloudwatch_event_rule.this.name
  event_bus_name = local.event_bus_name
  target_id      = "image-alerts-topic"
  arn            = aws_sns_topic.image_alerts.arn

  # The topic policy must let this rule publish before EventBridge tries.
  depends_on = [aws_sns_topic_policy.image_alerts]
}

resource "aws_sns_topic" "image_alerts" {
  name              = local.image_alerts_name
  kms_master_key_id = module.kms.key_arn
  tags              = var.tags
}

data "aws_iam_policy_document" "image_alerts" {
  statement {
    sid = "AccountManagesTheTopic"
    actions = [
      "sns:AddPermission",
      "sns:DeleteTopic",
      "sns:GetTopicAttributes",
      "sns:ListSubscriptionsByTopic",
      "sns:Publish",
      "sns:RemovePermission",
      "sns:SetTopicAttributes",
      "sns:Subscribe",
    ]
    resources = [aws_sns_topic.image_alerts.arn]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid       = "TheImageAlertsRulePublishes"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.image_alerts.arn]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.this.arn]
    }
  }
}

resource "aws_sns_topic_policy" "image_alerts" {
  arn    = aws_sns_topic.image_alerts.arn
  policy = data.aws_iam_policy_document.image_alerts.json
}

resource "aws_sns_topic_subscription" "image_alerts" {
  count = var.image_alert_email == null ? 0 : 1

  topic_arn = aws_sns_topic.image_alerts.arn
  protocol  = "email"
  endpoint  = var.image_alert_email
}
