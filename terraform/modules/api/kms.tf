# The API's own key (../imgpipe/modules/kms-key): its log groups and the page's bucket. The
# deployment's key (modules/imgpipe) stays as it is; the API function uses it through its role
# (kms_key_arn). The policy names the distribution that reads the page bucket: the distribution
# needs only the bucket's name, so it is created first, then the key, the bucket's encryption and
# the log groups.
module "kms" {
  source = "../imgpipe/modules/kms-key"

  description        = "${var.name}-api: the API's log groups and the web page bucket"
  alias_name         = "alias/${var.name}-api"
  administrator_arns = var.kms_key_administrator_arns
  policy_documents   = [data.aws_iam_policy_document.kms.json]
  tags               = var.tags
}

moved {
  from = aws_kms_key.this
  to   = module.kms.aws_kms_key.this
}

moved {
  from = aws_kms_alias.this
  to   = module.kms.aws_kms_alias.this[0]
}

# What services may do with the key, besides the account and the named administrators.
data "aws_iam_policy_document" "kms" {
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
