# The API's own key: its log groups and the page's bucket. The deployment's key (modules/imgpipe)
# stays as it is; the API function uses it through its role (kms_key_arn). The policy names the
# distribution that reads the page bucket: the distribution needs only the bucket's name, so it is
# created first, then the key, the bucket's encryption and the log groups.
resource "aws_kms_key" "this" {
  description             = "${var.name}-api: the API's log groups and the web page bucket"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
  tags                    = var.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name}-api"
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
    sid       = "CloudWatchLogsEncryptsTheApiLogGroups"
    actions   = ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey", "kms:ReEncryptFrom", "kms:ReEncryptTo"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = [local.log_group_arn, local.access_log_group_arn]
    }
  }

  # CloudFront reads the page bucket's SSE-KMS objects through origin access control: this
  # distribution only, decryption only.
  dynamic "statement" {
    for_each = local.web_enabled ? [aws_cloudfront_distribution.this[0].arn] : []

    content {
      sid       = "TheWebDistributionDecryptsThePage"
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
