# The roles' policy documents as AWS would receive them. The mocked provider of workflow.tftest.hcl
# renders no policy JSON; the AWS provider renders policy documents without calling AWS, so this
# one never reaches it (no credentials checked, no account looked up), and what would need AWS is
# overridden.

provider "aws" {
  region                      = "eu-west-1"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
}

override_data {
  target = data.aws_caller_identity.current
  values = { account_id = "123456789012" }
}

override_data {
  target = data.aws_partition.current
  values = { partition = "aws" }
}

override_module {
  target = module.bucket
  outputs = {
    s3_bucket_arn = "arn:aws:s3:::imgpipe-test-workflow-123456789012"
    s3_bucket_id  = "imgpipe-test-workflow-123456789012"
  }
}

override_module {
  target = module.scanner_ecr
  outputs = {
    ecr_repository_url = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/imgpipe-test-scanner"
    ecr_repository_arn = "arn:aws:ecr:eu-west-1:123456789012:repository/imgpipe-test-scanner"
  }
}

# Planning a state machine validates its definition with Step Functions.
override_resource {
  target          = aws_sfn_state_machine.this
  override_during = plan
  values          = { arn = "arn:aws:states:eu-west-1:123456789012:stateMachine:imgpipe-test" }
}

variables {
  name                 = "imgpipe-test"
  image_uri            = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/imgpipe-test@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
  environment          = { IMGPIPE_OUTPUT_BUCKET = "imgpipe-test-output-123456789012", IMGPIPE_QUARANTINE_BUCKET = "imgpipe-test-quarantine-123456789012", IMGPIPE_CONFIG_PARAMETER = "/imgpipe-test/pipeline" }
  pipeline_policy_json = jsonencode({ Version = "2012-10-17", Statement = [{ Sid = "WriteOutputs", Effect = "Allow", Action = ["s3:DeleteObject", "s3:PutObject"], Resource = "arn:aws:s3:::imgpipe-test-output-123456789012/*" }] })
  inspect_policy_json  = jsonencode({ Version = "2012-10-17", Statement = [{ Sid = "ReadSourceObjects", Effect = "Allow", Action = ["s3:GetObject", "s3:GetObjectVersion"], Resource = "arn:aws:s3:::imgpipe-test-source-123456789012/*" }, { Sid = "ReadAndWriteStatusItems", Effect = "Allow", Action = ["dynamodb:GetItem", "dynamodb:UpdateItem"], Resource = "arn:aws:dynamodb:eu-west-1:123456789012:table/imgpipe-test-status" }] })
  record_policy_json   = jsonencode({ Version = "2012-10-17", Statement = [{ Sid = "ReadAndWriteStatusItems", Effect = "Allow", Action = ["dynamodb:GetItem", "dynamodb:UpdateItem"], Resource = "arn:aws:dynamodb:eu-west-1:123456789012:table/imgpipe-test-status" }] })
  kms_key_arn          = "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555"
  source_bucket_name   = "imgpipe-test-source-123456789012"
  memory_size          = 1769
  timeout              = 45
  scanner_image_digests = {
    arm64 = "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
  }
}

# The pipeline document in a SecureString parameter (modules/imgpipe pipeline_config_parameter_name:
# encrypted with the deployment's key): every task of the function image reads it at its init,
# and GetParameter decrypts it with the caller's kms:Decrypt on that key.
run "tasks_outside_the_pipeline_decrypt_the_pipeline_parameter" {
  command = plan

  assert {
    condition = alltrue([
      for key in ["moderate", "reprocess-plan", "reprocess-summarize"] : anytrue([
        for statement in jsondecode(data.aws_iam_policy_document.function[key].json).Statement :
        contains(flatten([statement.Action]), "kms:Decrypt") && contains(flatten([statement.Resource]), var.kms_key_arn)
      ])
    ])
    error_message = "Moderate, reprocess-plan and reprocess-summarize read the SecureString pipeline parameter at their init: each role needs kms:Decrypt on the deployment's key, or GetParameter is refused and every bulk reprocessing fails at its first state."
  }

  assert {
    condition = alltrue([
      for key in ["moderate", "reprocess-plan", "reprocess-summarize"] : anytrue([
        for statement in jsondecode(data.aws_iam_policy_document.function[key].json).Statement :
        contains(flatten([statement.Action]), "ssm:GetParameter") && contains(flatten([statement.Resource]), "arn:aws:ssm:eu-west-1:123456789012:parameter/imgpipe-test/pipeline")
      ])
    ])
    error_message = "Moderate, reprocess-plan and reprocess-summarize should read the pipeline parameter."
  }
}

# Moderate decodes the upload (untrusted bytes, through the codecs) and asks Rekognition; it writes
# nothing, so its role may not write or delete what the pipeline writes.
run "moderate_reads_the_upload_and_writes_nothing" {
  command = plan

  assert {
    condition = !anytrue([
      for statement in jsondecode(data.aws_iam_policy_document.function["moderate"].json).Statement :
      length(setintersection(toset(flatten([statement.Action])), toset(["s3:PutObject", "s3:DeleteObject"]))) > 0
    ])
    error_message = "The Moderate task's role should not get the pipeline's writes and deletions."
  }

  assert {
    condition = anytrue([
      for statement in jsondecode(data.aws_iam_policy_document.function["process"].json).Statement :
      contains(flatten([statement.Action]), "s3:PutObject")
    ])
    error_message = "The Process task's role should get the pipeline's statements."
  }

  assert {
    condition = alltrue([
      for action in ["s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket", "kms:Decrypt", "rekognition:DetectModerationLabels"] : anytrue([
        for statement in jsondecode(data.aws_iam_policy_document.function["moderate"].json).Statement :
        contains(flatten([statement.Action]), action)
      ])
    ])
    error_message = "The Moderate task should read the upload's version, tell a missing one apart, decrypt it and ask Rekognition."
  }
}

# Inspect parses the upload's untrusted header, and RecordFailure only records: neither makes an
# output or a quarantine, so neither gets the pipeline's writes and deletions (pipeline_policy_json),
# only the imgpipe module's narrower documents (inspect_policy_json, record_policy_json).
run "inspect_and_record_failure_get_the_narrower_documents" {
  command = plan

  assert {
    condition = !anytrue(flatten([
      for key in ["inspect", "fail"] : [
        for statement in jsondecode(data.aws_iam_policy_document.function[key].json).Statement :
        length(setintersection(toset(flatten([statement.Action])), toset(["s3:PutObject", "s3:DeleteObject"]))) > 0
      ]
    ]))
    error_message = "The Inspect and RecordFailure roles should not get the pipeline's writes and deletions."
  }

  assert {
    condition = (
      toset(flatten([for statement in jsondecode(data.aws_iam_policy_document.function["inspect"].json).Statement : statement.Action if statement.Sid != "WriteLogs"])) == toset(["s3:GetObject", "s3:GetObjectVersion", "dynamodb:GetItem", "dynamodb:UpdateItem"])
      && toset(flatten([for statement in jsondecode(data.aws_iam_policy_document.function["fail"].json).Statement : statement.Action if statement.Sid != "WriteLogs"])) == toset(["dynamodb:GetItem", "dynamodb:UpdateItem"])
    )
    error_message = "Inspect should get inspect_policy_json and RecordFailure record_policy_json, each with its log group and nothing else (the documents have the parameter, the key and X-Ray)."
  }

  assert {
    condition = alltrue([
      for key in ["process", "quarantine", "reprocess-batch"] : anytrue([
        for statement in jsondecode(data.aws_iam_policy_document.function[key].json).Statement :
        contains(flatten([statement.Action]), "s3:PutObject")
      ])
    ])
    error_message = "Process, Quarantine and the reprocessing batch should get the pipeline's statements."
  }
}
