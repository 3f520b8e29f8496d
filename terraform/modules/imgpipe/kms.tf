# The deployment's key (../kms-key: administration, rotation, the key policy as its own resource).
# The key is created with the statements of kms, which name only what is known before the key
# exists; the transformation distribution's (kms_cloudfront) joins them once that distribution
# exists, since its origins, the output bucket and the transformation function, are encrypted with
# this key.
module "kms" {
  source = "./modules/kms-key"

  description             = "${var.name}: buckets, logs, dead-letter queue, status table and topics"
  alias_name              = "alias/${var.name}"
  administrator_arns      = var.kms_key_administrator_arns
  rotation_period_in_days = var.kms_key_rotation_period_in_days
  deletion_window_in_days = var.kms_key_deletion_window_in_days
  policy_documents        = [data.aws_iam_policy_document.kms.json]
  late_policy_documents   = [data.aws_iam_policy_document.kms_cloudfront.json]
  tags                    = var.tags
}

moved {
  from = aws_kms_key.this
  to   = module.kms.aws_kms_key.this
}

moved {
  from = aws_kms_key_policy.this
  to   = module.kms.aws_kms_key_policy.this
}

moved {
  from = aws_kms_alias.this
  to   = module.kms.aws_kms_alias.this[0]
}

# What services may do with the key, besides the account and the named administrators.
data "aws_iam_policy_document" "kms" {
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

  # The image alerts rule publishes to its encrypted topic (events.tf): scoped to that topic (SNS's
  # encryption context; its ARN is derived in main.tf, since the topic is encrypted with this key).
  # Not by aws:SourceArn or aws:SourceAccount: the SNS guide says these are not supported in a key
  # policy for EventBridge-to-encrypted-topic delivery, so such a condition refuses every alert
  # (the rule's FailedInvocations). The topic policy is what lets only that rule publish.
  statement {
    sid       = "TheImageAlertsRulePublishesToItsEncryptedTopic"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
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

# When the transformation distribution serves the output bucket (modules/transform), decryption
# for that distribution alone: added to the key policy once the distribution exists.
data "aws_iam_policy_document" "kms_cloudfront" {
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
