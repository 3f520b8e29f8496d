# The key of the CloudFront alarms' topic in us-east-1 (monitoring.tf), when the module creates
# that topic: the deployment's key is in the deployment's region, and an alarm notifies topics of
# its own region only.
resource "aws_kms_key" "this" {
  count    = local.create_cloudfront_topic ? 1 : 0
  provider = aws.us_east_1

  description             = "${var.name}-transform: the CloudFront alarms' topic in us-east-1"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
  tags                    = var.tags
}

locals {
  # Listed rather than "kms:*" so the policy says what it allows.
  kms_key_actions = [
    "kms:CancelKeyDeletion",
    "kms:CreateAlias",
    "kms:CreateGrant",
    "kms:Decrypt",
    "kms:DeleteAlias",
    "kms:DescribeKey",
    "kms:DisableKey",
    "kms:DisableKeyRotation",
    "kms:EnableKey",
    "kms:EnableKeyRotation",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListAliases",
    "kms:ListGrants",
    "kms:ListKeyPolicies",
    "kms:ListKeyRotations",
    "kms:ListResourceTags",
    "kms:PutKeyPolicy",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:RetireGrant",
    "kms:RevokeGrant",
    "kms:RotateKeyOnDemand",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateAlias",
    "kms:UpdateKeyDescription",
  ]
}

data "aws_iam_policy_document" "kms" {
  statement {
    sid       = "AccountAdministersAndUsesTheKeyThroughIam"
    actions   = local.kms_key_actions
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  # Named administrators (the deploy role) need no IAM grant, and so KMS's lockout check passes
  # when that role creates the key.
  dynamic "statement" {
    for_each = length(var.kms_key_administrator_arns) > 0 ? [var.kms_key_administrator_arns] : []

    content {
      sid       = "NamedAdministrators"
      actions   = local.kms_key_actions
      resources = ["*"]

      principals {
        type        = "AWS"
        identifiers = statement.value
      }
    }
  }

  # CloudWatch's documented statement for alarms publishing to an encrypted topic.
  statement {
    sid       = "CloudWatchAlarmsPublishToTheEncryptedTopic"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
  }
}
