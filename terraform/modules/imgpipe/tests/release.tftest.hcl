# `terraform test` with a mocked AWS provider: no account needed. Checks the release logic (alias,
# canary, provisioned concurrency), where the source bucket's events go, and the input validation, which
# `validate` cannot evaluate.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  name             = "imgpipe-test"
  memory_size      = 3008
  timeout          = 60
  max_input_pixels = 50000000
  image_digests = {
    arm64  = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    x86_64 = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
  }
}

run "routes_all_traffic_to_the_published_version_by_default" {
  assert {
    condition     = aws_lambda_alias.this.function_version == "7" && length(aws_lambda_alias.this.routing_config) == 0
    error_message = "The alias should route everything to the newly published version."
  }

  assert {
    condition     = aws_lambda_function.this.image_uri == "123456789012.dkr.ecr.eu-west-1.amazonaws.com/imgpipe-test@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    error_message = "The arm64 function should run the arm64 image, by digest."
  }

  assert {
    condition     = output.image_platform == "linux/arm64" && length(aws_lambda_provisioned_concurrency_config.this) == 0
    error_message = "arm64 should build for linux/arm64, and no provisioned concurrency should exist at 0."
  }

  assert {
    condition     = aws_lambda_function.this.environment[0].variables.IMGPIPE_MAX_PIXELS == "50000000" && aws_lambda_function.this.environment[0].variables.IMGPIPE_QUARANTINE_PREFIX == ""
    error_message = "The function's environment should carry the tuning and an empty quarantine prefix."
  }

  assert {
    condition     = output.canary_alarm_names == ["imgpipe-test-throttles"]
    error_message = "Without a canary only the throttles alarm is watched."
  }
}

run "sends_source_events_to_the_function_by_default" {
  command = plan

  assert {
    condition     = !aws_s3_bucket_notification.this.eventbridge && length(aws_s3_bucket_notification.this.lambda_function) == 1
    error_message = "By default (the direct mode) the source bucket should invoke the function and send nothing to EventBridge."
  }
}

run "sends_source_events_to_eventbridge_instead_of_the_function_in_the_workflow_mode" {
  command = plan

  variables {
    source_events_to_eventbridge = true
  }

  assert {
    condition     = aws_s3_bucket_notification.this.eventbridge && length(aws_s3_bucket_notification.this.lambda_function) == 0
    error_message = "In the workflow mode the source bucket should send its events to EventBridge and invoke no function (else every upload would run twice)."
  }
}

run "keeps_lambdas_log_filter_at_info_so_metrics_survive" {
  command = plan

  variables {
    log_level = "WARN"
  }

  assert {
    condition     = aws_lambda_function.this.logging_config[0].application_log_level == "INFO" && aws_lambda_function.this.environment[0].variables.POWERTOOLS_LOG_LEVEL == "WARN"
    error_message = "EMF lines have no level and count as INFO: Lambda's filter must stay at INFO while Powertools filters at WARN."
  }
}

run "picks_the_image_for_the_architecture" {
  variables {
    architectures = ["x86_64"]
  }

  assert {
    condition     = endswith(aws_lambda_function.this.image_uri, "@sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb") && output.image_platform == "linux/amd64"
    error_message = "x86_64 should run the x86_64 digest, built for linux/amd64."
  }
}

run "canary_keeps_the_live_version_and_shifts_a_share_to_the_new_one" {
  variables {
    live_version                      = "6"
    canary_weight                     = 0.1
    provisioned_concurrent_executions = 2
  }

  assert {
    condition     = aws_lambda_alias.this.function_version == "6" && aws_lambda_alias.this.routing_config[0].additional_version_weights["7"] == 0.1
    error_message = "The alias should keep version 6 and send 10% to version 7."
  }

  assert {
    condition     = aws_lambda_provisioned_concurrency_config.this[0].qualifier == "6"
    error_message = "Provisioned concurrency belongs on the live version's number, not the weighted alias."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.canary_errors[0].dimensions.ExecutedVersion == "7" && aws_cloudwatch_metric_alarm.canary_errors[0].dimensions.Resource == "imgpipe-test:live"
    error_message = "The canary alarm should watch version 7 behind the live alias."
  }

  assert {
    condition     = length(output.canary_alarm_names) == 3
    error_message = "During a canary the workflow watches the canary errors, canary duration and throttles alarms."
  }
}

run "completing_moves_the_alias_and_provisioned_concurrency_to_the_new_version" {
  variables {
    provisioned_concurrent_executions = 2
  }

  assert {
    condition     = aws_lambda_alias.this.function_version == "7" && aws_lambda_provisioned_concurrency_config.this[0].qualifier == "7"
    error_message = "After completion the alias and provisioned concurrency should be on version 7."
  }
}

run "rolling_back_pins_the_previous_version_without_weights" {
  variables {
    live_version = "6"
  }

  assert {
    condition     = aws_lambda_alias.this.function_version == "6" && length(aws_lambda_alias.this.routing_config) == 0
    error_message = "A rollback routes everything to version 6."
  }
}

run "refuses_a_canary_without_a_live_version" {
  command = plan

  variables {
    canary_weight = 0.1
  }

  expect_failures = [var.canary_weight]
}

run "refuses_a_canary_onto_the_version_that_is_already_live" {
  command = plan

  variables {
    live_version  = "7"
    canary_weight = 0.1
  }

  expect_failures = [aws_lambda_alias.this]
}

run "refuses_a_function_without_an_image_for_its_architecture" {
  command = plan

  variables {
    image_digests = {}
  }

  expect_failures = [aws_lambda_function.this]
}

run "refuses_out-of-range_tuning" {
  command = plan

  variables {
    memory_size                       = 64
    timeout                           = 901
    provisioned_concurrent_executions = -1
    max_input_pixels                  = 2000000000
  }

  expect_failures = [var.memory_size, var.timeout, var.provisioned_concurrent_executions, var.max_input_pixels]
}

run "refuses_too_little_reserved_concurrency_for_a_provisioned_release" {
  command = plan

  variables {
    provisioned_concurrent_executions = 5
    reserved_concurrent_executions    = 8
  }

  expect_failures = [var.reserved_concurrent_executions]
}

run "refuses_managed_variables_in_environment_variables" {
  command = plan

  variables {
    environment_variables = { IMGPIPE_OUTPUT_BUCKET = "elsewhere" }
  }

  expect_failures = [var.environment_variables]
}
