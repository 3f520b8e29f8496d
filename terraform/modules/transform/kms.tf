# The key of the CloudFront alarms' topic in us-east-1 (monitoring.tf), when the module creates
# that topic: the deployment's key is in the deployment's region, and an alarm notifies topics of
# its own region only (../imgpipe/modules/kms-key).
module "kms" {
  source = "../imgpipe/modules/kms-key"
  count  = local.create_cloudfront_topic ? 1 : 0

  providers = {
    aws = aws.us_east_1
  }

  description        = "${var.name}-transform: the CloudFront alarms' topic in us-east-1"
  administrator_arns = var.kms_key_administrator_arns
  policy_documents   = [data.aws_iam_policy_document.kms.json]
  tags               = var.tags
}

moved {
  from = aws_kms_key.this[0]
  to   = module.kms[0].aws_kms_key.this
}

# What services may do with the key, besides the account and the named administrators.
data "aws_iam_policy_document" "kms" {
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
