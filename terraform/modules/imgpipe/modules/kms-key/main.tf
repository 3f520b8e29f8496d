data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  # Listed rather than "kms:*" so the policy says what it allows.
  key_actions = [
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

# Who administers the key, then the caller's statements known before the key exists.
data "aws_iam_policy_document" "this" {
  # The account administers and uses the key through IAM policies (function roles, operators).
  statement {
    sid       = "AccountAdministersAndUsesTheKeyThroughIam"
    actions   = local.key_actions
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }

  # Named administrators (the deploy role) need no IAM grant, and so KMS's lockout check passes
  # when that role creates the key.
  dynamic "statement" {
    for_each = length(var.administrator_arns) > 0 ? [var.administrator_arns] : []

    content {
      sid       = "NamedAdministrators"
      actions   = local.key_actions
      resources = ["*"]

      principals {
        type        = "AWS"
        identifiers = statement.value
      }
    }
  }
}

data "aws_iam_policy_document" "at_creation" {
  source_policy_documents = concat([data.aws_iam_policy_document.this.json], var.policy_documents)
}

data "aws_iam_policy_document" "complete" {
  source_policy_documents = concat([data.aws_iam_policy_document.at_creation.json], var.late_policy_documents)
}

# The key is created with every statement but late_policy_documents', which name resources that
# need the key before they exist (a distribution whose origin is encrypted with it).
# aws_kms_key_policy.this then sets the whole policy and owns it from then on: the key's own
# policy argument only seeds it.
resource "aws_kms_key" "this" {
  description             = var.description
  enable_key_rotation     = true
  rotation_period_in_days = var.rotation_period_in_days
  deletion_window_in_days = var.deletion_window_in_days
  policy                  = data.aws_iam_policy_document.at_creation.json
  tags                    = var.tags

  lifecycle {
    # aws_kms_key_policy.this manages the policy after creation.
    ignore_changes = [policy]
  }
}

resource "aws_kms_key_policy" "this" {
  key_id = aws_kms_key.this.id
  policy = data.aws_iam_policy_document.complete.json
}

resource "aws_kms_alias" "this" {
  count = var.alias_name == null ? 0 : 1

  name          = var.alias_name
  target_key_id = aws_kms_key.this.key_id
}
