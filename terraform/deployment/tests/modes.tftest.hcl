# The deployment mode (workflow.tf) through the root, against the mocked AWS provider, with each
# environment's files as environments.tftest.hcl runs them. Bulk reprocessing exists in both modes;
# the per-upload workflow only in the workflow mode.

mock_provider "aws" {
  source = "../modules/imgpipe/tests/mocks"
}

# us-east-1: the transformation distribution's CloudFront alarms.
mock_provider "aws" {
  alias  = "us_east_1"
  source = "../modules/imgpipe/tests/mocks"
}

variables {
  aws_account_id = "123456789012"
  image_digests = {
    arm64  = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    x86_64 = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
  }
}

run "deploys_the_direct_mode_by_default_with_bulk_reprocessing" {
  assert {
    condition     = output.mode == "direct" && output.upload_state_machine_arn == null && output.reprocess_state_machine_arn != null
    error_message = "By default S3 should invoke the function, and bulk reprocessing should be there."
  }

  assert {
    condition     = keys(module.workflow.function_names) == ["reprocess-batch", "reprocess-plan", "reprocess-summarize"]
    error_message = "The direct mode should deploy only bulk reprocessing's functions of the workflow module."
  }
}

run "deploys_the_per_upload_workflow_in_the_workflow_mode" {
  variables {
    mode = "workflow"
    scanner_image_digests = {
      arm64  = "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
      x86_64 = "sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
    }
  }

  assert {
    condition     = output.mode == "workflow" && output.upload_state_machine_arn != null
    error_message = "The workflow mode should create the per-upload state machine."
  }

  assert {
    condition     = length(module.workflow.function_names) == 10 && module.workflow.function_names.process == "imgpipe-${var.environment}-process"
    error_message = "The workflow mode should deploy every task function, the scanner's included."
  }
}

run "sizes_the_scanner_memory_from_the_environment" {
  variables {
    mode                           = "workflow"
    scanner_memory_size            = 2560
    scanner_ephemeral_storage_size = 4096
    scanner_image_digests = {
      arm64  = "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
      x86_64 = "sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
    }
  }

  # 2560 MB less the engine's 1229 and Node's 200 (the default 3008 would give 1579 MiB), under the
  # 1841 MiB that 4096 MB of /tmp give (the default 2048 would give 817 MiB and set the capacity).
  assert {
    condition     = module.workflow.scanner_capacity.bytes == (2560 - 1429) * 1048576
    error_message = "An environment's scanner_memory_size should size the scan function, and so what it can scan."
  }
}

run "sizes_the_scanner_storage_from_the_environment" {
  variables {
    mode                           = "workflow"
    scanner_ephemeral_storage_size = 1500
    scanner_image_digests = {
      arm64  = "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
      x86_64 = "sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
    }
  }

  # 1500 MB less the database's 350 and clamd's other files' 64, halved for what clamd unpacks
  # (the default 2048 would give 817).
  assert {
    condition     = module.workflow.scanner_capacity.bytes == 543 * 1048576
    error_message = "An environment's scanner_ephemeral_storage_size should size the scan function's /tmp, and so what it can scan."
  }
}

run "gives_the_provisioned_concurrency_to_the_function_that_processes_the_uploads" {
  variables {
    lambda_provisioned_concurrency = 2
  }

  assert {
    condition     = module.imgpipe.provisioned_concurrency == { function_name = "imgpipe-${var.environment}", qualifier = "7", provisioned_concurrent_executions = 2 } && module.workflow.process_provisioned_concurrency == null
    error_message = "In the direct mode the imgpipe function processes the uploads and should get the provisioned concurrency."
  }

  assert {
    condition     = output.provisioned_concurrency == module.imgpipe.provisioned_concurrency
    error_message = "The output should show where the provisioned concurrency is."
  }
}

run "gives_the_provisioned_concurrency_to_the_process_function_in_the_workflow_mode" {
  variables {
    mode                           = "workflow"
    malware_scan_enabled           = false
    lambda_provisioned_concurrency = 2
  }

  assert {
    condition     = module.workflow.process_provisioned_concurrency == { function_name = "imgpipe-${var.environment}-process", qualifier = "7", provisioned_concurrent_executions = 2 }
    error_message = "In the workflow mode the Process task function processes the uploads and should get the provisioned concurrency."
  }

  assert {
    condition     = module.imgpipe.provisioned_concurrency == null
    error_message = "The imgpipe function receives no uploads in the workflow mode: provisioned concurrency there would be billed and never used."
  }

  assert {
    condition     = output.provisioned_concurrency == module.workflow.process_provisioned_concurrency
    error_message = "The output should show where the provisioned concurrency is."
  }
}

run "refuses_an_unknown_mode" {
  command = plan

  variables {
    mode = "queue"
  }

  expect_failures = [var.mode]
}

run "holds_both_modes_to_the_upload_filters" {
  command = plan

  variables {
    mode                        = "workflow"
    malware_scan_enabled        = false
    source_notification_filters = [{ prefix = "uploads/", suffix = ".jpg" }, { prefix = "uploads/", suffix = ".png" }]
  }

  # The modules' resources are not visible from here: each module's own tests check what it
  # makes of the filters; this run checks that the root plans with them in the workflow mode.
  assert {
    condition     = output.mode == "workflow"
    error_message = "The root should plan the workflow mode with two upload filters."
  }
}

run "refuses_filters_that_take_none_of_the_api_uploads" {
  command = plan

  variables {
    api                         = { enabled = true, upload_prefix = "uploads/", cors_allowed_origins = ["https://app.example.com"] }
    source_notification_filters = [{ prefix = "photos/" }]
  }

  expect_failures = [var.source_notification_filters]
}

run "refuses_filters_that_take_only_some_api_uploads" {
  command = plan

  # API uploads keep the user's file name: a .png would stay pending.
  variables {
    api                         = { enabled = true, upload_prefix = "uploads/", cors_allowed_origins = ["https://app.example.com"] }
    source_notification_filters = [{ prefix = "photos/" }, { prefix = "uploads/", suffix = ".jpg" }]
  }

  expect_failures = [var.source_notification_filters]
}

run "takes_filters_under_which_the_api_uploads_fall" {
  command = plan

  variables {
    api                         = { enabled = true, upload_prefix = "uploads/", cors_allowed_origins = ["https://app.example.com"] }
    source_notification_filters = [{ prefix = "photos/", suffix = ".jpg" }, { prefix = "upl" }]
  }

  assert {
    condition     = length(module.api) == 1
    error_message = "A filter without a suffix whose prefix starts the upload prefix should let the API deploy."
  }
}

run "releases_each_task_function_through_codedeploy_in_the_workflow_mode" {
  variables {
    mode = "workflow"
    scanner_image_digests = {
      arm64  = "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
      x86_64 = "sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
    }
  }

  # Every task function the state machines invoke through its `live` alias: a deployment group of
  # the release's application shifts it, not a plain update-alias at full weight.
  assert {
    condition = length(output.task_releases) == 10 && alltrue([
      for key in ["inspect", "scan", "moderate", "process", "quarantine", "fail", "update-database", "reprocess-plan", "reprocess-batch", "reprocess-summarize"] :
      output.task_releases[module.workflow.function_names[key]].deployment_group == "task-${key}"
    ])
    error_message = "Each task function, of the imgpipe image and of the scanner image, should have its own CodeDeploy deployment group (task-<key>)."
  }
}

run "releases_the_reprocessing_functions_through_codedeploy_in_the_direct_mode" {
  assert {
    condition     = keys(output.task_releases) == ["imgpipe-${var.environment}-reprocess-batch", "imgpipe-${var.environment}-reprocess-plan", "imgpipe-${var.environment}-reprocess-summarize"]
    error_message = "Bulk reprocessing's functions should be released through CodeDeploy in the direct mode too."
  }
}
