# `terraform test` with the mocked AWS provider of modules/imgpipe: who administers the key, and
# which statements are in the policy the key is created with and which join it later.

mock_provider "aws" {
  source = "../../tests/mocks"
}

variables {
  description           = "imgpipe-test: tests"
  alias_name            = "alias/imgpipe-test"
  administrator_arns    = ["arn:aws:iam::123456789012:role/imgpipe-github-deploy-test"]
  policy_documents      = ["{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"LogsUseTheKey\",\"Effect\":\"Allow\",\"Action\":\"kms:Encrypt\",\"Resource\":\"*\",\"Principal\":{\"Service\":\"logs.amazonaws.com\"}}]}"]
  late_policy_documents = ["{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"CloudFrontDecrypts\",\"Effect\":\"Allow\",\"Action\":\"kms:Decrypt\",\"Resource\":\"*\",\"Principal\":{\"Service\":\"cloudfront.amazonaws.com\"}}]}"]
}

run "creates_a_rotated_key_administered_by_the_account_and_the_named_administrators" {
  assert {
    condition     = aws_kms_key.this.enable_key_rotation && aws_kms_key.this.deletion_window_in_days == 30 && aws_kms_alias.this[0].name == "alias/imgpipe-test" && aws_kms_alias.this[0].target_key_id == aws_kms_key.this.key_id
    error_message = "The key should rotate, wait 30 days before deletion by default, and carry its alias."
  }

  assert {
    condition = jsonencode([for s in data.aws_iam_policy_document.this.statement : [s.sid, [for p in s.principals : sort(p.identifiers)]]]) == jsonencode([
      ["AccountAdministersAndUsesTheKeyThroughIam", [["arn:aws:iam::123456789012:root"]]],
      ["NamedAdministrators", [["arn:aws:iam::123456789012:role/imgpipe-github-deploy-test"]]],
    ])
    error_message = "The account (through IAM) and the named administrators should administer the key."
  }

  assert {
    condition = (
      data.aws_iam_policy_document.at_creation.source_policy_documents == tolist(concat([data.aws_iam_policy_document.this.json], var.policy_documents))
      && aws_kms_key.this.policy == data.aws_iam_policy_document.at_creation.json
    )
    error_message = "The key should be created with the administration statements and the caller's policy_documents."
  }

  assert {
    condition = (
      data.aws_iam_policy_document.complete.source_policy_documents == tolist(concat([data.aws_iam_policy_document.at_creation.json], var.late_policy_documents))
      && aws_kms_key_policy.this.policy == data.aws_iam_policy_document.complete.json
      && aws_kms_key_policy.this.key_id == aws_kms_key.this.id
    )
    error_message = "The key policy resource should carry those statements and late_policy_documents'."
  }
}

run "creates_no_alias_and_no_administrator_statement_unless_asked" {
  variables {
    alias_name         = null
    administrator_arns = []
  }

  assert {
    condition     = length(aws_kms_alias.this) == 0 && [for s in data.aws_iam_policy_document.this.statement : s.sid] == ["AccountAdministersAndUsesTheKeyThroughIam"]
    error_message = "Without alias_name and administrator_arns there should be no alias and only the account's statement."
  }
}

run "refuses_an_alias_outside_alias_or_under_alias_aws" {
  command = plan

  variables {
    alias_name = "alias/aws/s3"
  }

  expect_failures = [var.alias_name]
}
