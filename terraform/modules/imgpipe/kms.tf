# The key is created with every statement but the transformation distribution's (kms), which
# cannot be named before the key exists: that distribution's origin is a function encrypted with
# this key. aws_kms_key_policy.this then sets the whole policy (kms_with_cloudfront) once the
# distribution exists, and owns it from then on; the key's own policy argument only seeds it.
resource "aws_kms_key" "this" {
  description             = "${var.name}: buckets, logs, dead-letter queue, status table and topics"
  enable_key_rotation     = true
  rotation_period_in_days = var.kms_key_rotation_period_in_days
  deletion_window_in_days = var.kms_key_deletion_window_in_days
  policy                  = data.aws_iam_policy_document.kms.json
  tags                    = var.tags

  lifecycle {
    # aws_kms_key_policy.this manages the policy after creation.
    ignore_changes = [policy]
  }
}

resource "aws_kms_key_policy" "this" {
  key_id = aws_kms_key.this.id
  policy = data.aws_iam_policy_document.kms_with_cloudfront.json
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.this.key_id
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
  # The account administers and uses the key through IAM policies (the function role, operators).
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

  statement {
    sid       = "CloudWatchLogsEncryptsTheFunctionLogGroups"
    actions   = ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey", "kms:ReEncryptFrom", "kms:ReEncryptTo"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      # The main function's log group and the deployment's other ones (<name>-*).
      values = local.log_group_arns
    }
  }

  # Alarms and budget notifications publish to the encrypted topic. CloudWatch's documented key
  # statement has no condition; Budgets' is scoped to this account.
  statement {
    sid       = "CloudWatchAlarmsPublishToTheEncryptedTopic"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
  }

  # The image alerts rule publishes to its encrypted topic (events.tf): scoped the way SNS documents
  # it for AWS services that publish to encrypted topics, to the publishing resource (aws:SourceArn,
  # the rule) and the topic (SNS's encryption context). Both ARNs are derived in main.tf, since the
  # topic is encrypted with this key. Should a delivery still be refused, the
  # image-alerts-failed alarm fires.
  statement {
    sid       = "TheImageAlertsRulePublishesToItsEncryptedTopic"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [local.image_alerts_rule_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "kms:EncryptionContext:aws:sns:topicArn"
      values   = [local.image_alerts_topic_arn]
    }
  }

  statement {
    sid       = "BudgetsPublishToTheEncryptedTopic"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["budgets.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }

  # The optional CloudTrail trail (trail.tf) encrypts its log files with this key.
  dynamic "statement" {
    for_each = var.cloudtrail_enabled ? [local.trail_arn] : []

    content {
      sid       = "CloudTrailEncryptsItsLogFiles"
      actions   = ["kms:GenerateDataKey"]
      resources = ["*"]

      principals {
        type        = "Service"
        identifiers = ["cloudtrail.amazonaws.com"]
      }

      condition {
        test     = "StringEquals"
        variable = "aws:SourceArn"
        values   = [statement.value]
      }

      condition {
        test     = "StringLike"
        variable = "kms:EncryptionContext:aws:cloudtrail:arn"
        values   = ["arn:${local.partition}:cloudtrail:*:${local.account_id}:trail/*"]
      }
    }
  }

  dynamic "statement" {
    for_each = var.cloudtrail_enabled ? [local.trail_arn] : []

    content {
      sid       = "CloudTrailDescribesTheKey"
      actions   = ["kms:DescribeKey"]
      resources = ["*"]

      principals {
        type        = "Service"
        identifiers = ["cloudtrail.amazonaws.com"]
      }

      condition {
        test     = "StringEquals"
        variable = "aws:SourceArn"
        values   = [statement.value]
      }
    }
  }
}

# The whole key policy: the statements above and, when the transformation distribution serves the
# output bucket (modules/transform), decryption for that distribution alone.
data "aws_iam_policy_document" "kms_with_cloudfront" {
  source_policy_documents = [data.aws_iam_policy_document.kms.json]

  dynamic "statement" {
    for_each = var.output_cloudfront_distribution_arn == null ? [] : [var.output_cloudfront_distribution_arn]

    content {
      sid       = "CloudFrontDecryptsTheOutputs"
      actions   = ["kms:Decrypt"]
      resources = ["*"]

      principals {
        type        = "Service"
        identifiers = ["cloudfront.amazonaws.com"]
      }

      condition {
        test     = "StringEquals"
        variable = "AWS:SourceArn"
        values   = [statement.value]
      }
    }
  }
}
