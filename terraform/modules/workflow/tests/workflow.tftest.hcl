# `terraform test` with a mocked AWS provider (the imgpipe module's mocks): which resources each
# mode creates, how the definitions are rendered, and the input validation.

mock_provider "aws" {
  source = "../imgpipe/tests/mocks"
}

variables {
  name                 = "imgpipe-test"
  image_uri            = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/imgpipe-test@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
  environment          = { IMGPIPE_OUTPUT_BUCKET = "imgpipe-test-output-123456789012", IMGPIPE_QUARANTINE_BUCKET = "imgpipe-test-quarantine-123456789012", POWERTOOLS_SERVICE_NAME = "imgpipe", IMGPIPE_MAX_BYTES = "1000000" }
  pipeline_policy_json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
  inspect_policy_json  = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
  record_policy_json   = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
  kms_key_arn          = "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555"
  source_bucket_name   = "imgpipe-test-source-123456789012"
  alarm_topic_arn      = "arn:aws:sns:eu-west-1:123456789012:imgpipe-test-alarms"
  memory_size          = 1769
  timeout              = 45
  scanner_image_digests = {
    arm64 = "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
  }
}

run "creates_the_per_upload_workflow_with_every_check" {
  assert {
    condition     = toset(keys(aws_lambda_function.image)) == toset(["inspect", "moderate", "process", "quarantine", "fail", "reprocess-plan", "reprocess-batch", "reprocess-summarize"])
    error_message = "Every task of both state machines should have a function from the function image."
  }

  assert {
    condition     = length(aws_lambda_provisioned_concurrency_config.this) == 0 && output.process_provisioned_concurrency == null
    error_message = "No provisioned concurrency should exist by default."
  }

  assert {
    condition = alltrue([
      for key, fn in aws_lambda_function.image :
      fn.image_uri == var.image_uri && fn.function_name == "imgpipe-test-${key}" && fn.logging_config[0].log_group == "/aws/lambda/imgpipe-test-${key}"
    ])
    error_message = "Each task function should run the function image, by digest, named and logging as <name>-<task>."
  }

  assert {
    condition     = aws_lambda_function.image["process"].image_config[0].command == tolist(["index.workflowProcess"]) && aws_lambda_function.image["reprocess-batch"].image_config[0].command == tolist(["index.reprocessBatch"])
    error_message = "The command should select each task's entry point."
  }

  assert {
    condition     = aws_lambda_function.image["process"].memory_size == 1769 && aws_lambda_function.image["process"].timeout == 45 && aws_lambda_function.image["moderate"].memory_size == 1769 && aws_lambda_function.image["inspect"].memory_size == 512
    error_message = "The tasks that decode images should take the tuned memory and timeout; the inspection needs little."
  }

  assert {
    condition     = aws_lambda_function.image["moderate"].environment[0].variables.IMGPIPE_MODERATION_MIN_CONFIDENCE == "80" && aws_lambda_function.image["moderate"].environment[0].variables.IMGPIPE_MODERATION_MAX_TILES == "8" && aws_lambda_function.image["process"].environment[0].variables.IMGPIPE_OUTPUT_BUCKET == "imgpipe-test-output-123456789012"
    error_message = "The task functions should get the imgpipe function's environment and the moderation settings."
  }

  assert {
    condition     = toset(keys(aws_lambda_function.scanner)) == toset(["scan", "update-database"]) && aws_lambda_function.scanner["scan"].image_uri == "${module.scanner_ecr.ecr_repository_url}@sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc" && aws_lambda_function.scanner["scan"].memory_size == 3008
    error_message = "The scanner should run the scanner image, by digest, with memory for ClamAV's database."
  }

  assert {
    condition     = aws_lambda_function.scanner["scan"].environment[0].variables.IMGPIPE_SIGNATURES_PREFIX == "clamav/" && aws_lambda_function.scanner["scan"].environment[0].variables.IMGPIPE_MAX_BYTES == "1000000" && !contains(keys(aws_lambda_function.scanner["scan"].environment[0].variables), "IMGPIPE_OUTPUT_BUCKET")
    error_message = "The scanner should get the database's place and the size limit, and none of the pipeline's buckets."
  }

  assert {
    condition     = aws_sfn_state_machine.this["upload"].type == "EXPRESS" && aws_sfn_state_machine.this["reprocess"].type == "STANDARD"
    error_message = "The per-upload state machine should be Express, bulk reprocessing Standard."
  }

  assert {
    condition     = aws_sfn_state_machine.this["upload"].logging_configuration[0].include_execution_data && aws_sfn_state_machine.this["upload"].logging_configuration[0].level == "ERROR" && aws_cloudwatch_log_group.state_machine["upload"].name == "/aws/vendedlogs/states/imgpipe-test-upload" && aws_cloudwatch_log_group.state_machine["upload"].kms_key_id == var.kms_key_arn
    error_message = "Executions should be logged, with their data, to an encrypted log group of the state machine's own."
  }

  assert {
    condition = (
      jsondecode(aws_sfn_state_machine.this["upload"].definition).States.Inspect.Resource == "arn:aws:lambda:eu-west-1:123456789012:function:imgpipe-test-inspect:live"
      && jsondecode(aws_sfn_state_machine.this["upload"].definition).States.Scan.Resource == "arn:aws:lambda:eu-west-1:123456789012:function:imgpipe-test-scan:live"
      && jsondecode(aws_sfn_state_machine.this["upload"].definition).States.Start.Parameters.checks == { malware = "true", moderation = "true" }
    )
    error_message = "The per-upload definition should name the task functions and switch both checks on."
  }

  assert {
    condition = (
      jsondecode(aws_sfn_state_machine.this["reprocess"].definition).States.ByPrefix.ItemReader.Resource == "arn:aws:states:::s3:listObjectsV2"
      && jsondecode(aws_sfn_state_machine.this["reprocess"].definition).States.ByPrefix.ResultWriter.Parameters.Bucket == "imgpipe-test-workflow-123456789012"
    )
    error_message = "Bulk reprocessing should list the prefix itself and write its results to the workflow bucket."
  }

  assert {
    condition     = jsondecode(aws_cloudwatch_event_rule.this[0].event_pattern) == { source = ["aws.s3"], "detail-type" = ["Object Created"], detail = { bucket = { name = ["imgpipe-test-source-123456789012"] }, object = { key = [{ wildcard = "*" }] } } }
    error_message = "The rule should start the workflow for every Object Created event of the source bucket."
  }

  assert {
    condition     = aws_scheduler_schedule.this[0].schedule_expression == "rate(3 hours)" && length(aws_cloudwatch_metric_alarm.database_update) == 1
    error_message = "The database update should run every three hours, with an alarm on its failures."
  }

  assert {
    condition     = toset([for query in aws_cloudwatch_metric_alarm.database_update[0].metric_query : query.metric[0].period if query.id != "succeeded"]) == toset([21600])
    error_message = "The database update alarm should count the successes of two scheduled runs: 6 hours at rate(3 hours)."
  }

  assert {
    condition     = toset(output.cloudwatch_metric_alarm_names) == toset(["imgpipe-test-upload-failed", "imgpipe-test-upload-timed-out", "imgpipe-test-reprocess-failed", "imgpipe-test-reprocess-timed-out", "imgpipe-test-upload-rule-failed", "imgpipe-test-upload-dlq", "imgpipe-test-upload-dead-letter-failed", "imgpipe-test-update-database-errors", "imgpipe-test-signature-age"])
    error_message = "Failed and timed-out executions, the rule's failures, its dead-letter queue and the events that queue refused, the database update and the signatures' age should each have an alarm."
  }

  # An upload event the rule could not deliver and could not put in its dead-letter queue either
  # (the queue's policy, a deleted queue) is lost: EventBridge counts it in
  # InvocationsFailedToBeSentToDlq, which neither FailedInvocations nor the queue's depth sees.
  assert {
    condition = (
      aws_cloudwatch_metric_alarm.dead_letter_failed[0].namespace == "AWS/Events"
      && aws_cloudwatch_metric_alarm.dead_letter_failed[0].metric_name == "InvocationsFailedToBeSentToDlq"
      && aws_cloudwatch_metric_alarm.dead_letter_failed[0].dimensions == tomap({ RuleName = aws_cloudwatch_event_rule.this[0].name })
      && aws_cloudwatch_metric_alarm.dead_letter_failed[0].threshold == 0
      && aws_cloudwatch_metric_alarm.dead_letter_failed[0].comparison_operator == "GreaterThanThreshold"
      && aws_cloudwatch_metric_alarm.dead_letter_failed[0].alarm_actions == toset(["arn:aws:sns:eu-west-1:123456789012:imgpipe-test-alarms"])
    )
    error_message = "Upload events the rule could not put in its dead-letter queue (InvocationsFailedToBeSentToDlq of the upload rule) should notify the alarm topic."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.signature_age[0].threshold == 27 * 3600 && aws_cloudwatch_metric_alarm.signature_age[0].namespace == "imgpipe" && aws_cloudwatch_metric_alarm.signature_age[0].dimensions["service"] == "imgpipe" && aws_cloudwatch_metric_alarm.signature_age[0].metric_name == "SignatureDatabaseAge"
    error_message = "The signature-age alarm should fire on scans with signatures over 27 hours old (rate(3 hours) plus a day), on the scanner's metric under the service's name."
  }
}

# Which roles get the parameter is checked on the HCL (test/terraform/workflow.test.ts): the mocked
# provider renders no policy JSON. This run plans the statement with a parameter named.
run "plans_the_pipeline_parameter_read_of_the_tasks_outside_the_pipeline" {
  command = plan

  variables {
    environment = { IMGPIPE_OUTPUT_BUCKET = "imgpipe-test-output-123456789012", IMGPIPE_QUARANTINE_BUCKET = "imgpipe-test-quarantine-123456789012", IMGPIPE_CONFIG_PARAMETER = "/imgpipe-test/pipeline" }
  }

  assert {
    condition     = alltrue([for key in ["reprocess-plan", "reprocess-summarize"] : aws_lambda_function.image[key].environment[0].variables.IMGPIPE_CONFIG_PARAMETER == "/imgpipe-test/pipeline"])
    error_message = "The reprocessing plan and summary get the pipeline's environment, the parameter's name among it."
  }
}

run "filters_the_keys_that_start_the_workflow" {
  variables {
    source_notification_filters = { photos = { prefix = "photos/", suffix = ".jpg" } }
  }

  assert {
    condition     = jsondecode(aws_cloudwatch_event_rule.this[0].event_pattern).detail.object.key == [{ wildcard = "photos/*.jpg" }]
    error_message = "A prefix and suffix filter should become a wildcard on the key."
  }

  assert {
    condition     = jsondecode(aws_lambda_function.image["reprocess-batch"].environment[0].variables.IMGPIPE_REPROCESS_KEY_FILTERS) == [{ prefix = "photos/", suffix = ".jpg" }]
    error_message = "Bulk reprocessing should skip the keys the filters keep from the uploads' workflow."
  }
}

run "matches_a_star_or_backslash_of_a_filter_literally" {
  variables {
    source_notification_filters = { raw = { prefix = "raw*\\in/", suffix = ".jpg" }, star = { prefix = "star*" } }
  }

  # EventBridge reads `*` in a wildcard as any run of characters and `\` as an escape: S3 and the
  # code match the filters literally, so the rule must escape both (raw*\in/ is `raw\*\\in/`).
  assert {
    condition     = jsondecode(aws_cloudwatch_event_rule.this[0].event_pattern).detail.object.key == [{ wildcard = "raw\\*\\\\in/*.jpg" }, { wildcard = "star\\**" }]
    error_message = "A * or \\ in a prefix or suffix should be escaped in the wildcard (\\* and \\\\), so the rule takes no key the filters do not."
  }
}

run "keeps_only_bulk_reprocessing_in_the_direct_mode" {
  variables {
    upload_workflow_enabled = false
  }

  assert {
    condition     = toset(keys(aws_lambda_function.image)) == toset(["reprocess-plan", "reprocess-batch", "reprocess-summarize"]) && length(aws_lambda_function.scanner) == 0
    error_message = "The direct mode should create only the reprocessing functions."
  }

  assert {
    condition     = keys(aws_sfn_state_machine.this) == ["reprocess"] && length(aws_cloudwatch_event_rule.this) + length(aws_sqs_queue.this) + length(aws_scheduler_schedule.this) == 0
    error_message = "The direct mode should have no per-upload state machine, rule, queue or schedule."
  }

  assert {
    condition     = output.upload_state_machine_arn == null && output.upload_dead_letter_queue_url == null
    error_message = "The per-upload outputs should be null in the direct mode."
  }
}

run "runs_the_backfill_on_the_released_alias_not_latest" {
  variables {
    upload_workflow_enabled = false
  }

  assert {
    condition = alltrue([
      for state in ["Plan", "Summarize"] : endswith(jsondecode(aws_sfn_state_machine.this["reprocess"].definition).States[state].Resource, ":function:imgpipe-test-reprocess-${lower(state)}:live")
    ])
    error_message = "Bulk reprocessing should invoke the live alias of its task functions, never $LATEST."
  }

  assert {
    condition = alltrue([
      for fn in aws_lambda_function.image : fn.publish
      ]) && alltrue([
      for key, alias in aws_lambda_alias.this : alias.name == "live" && alias.function_version == aws_lambda_function.image[key].version
    ])
    error_message = "Each task function should publish versions and have a live alias created on the first one."
  }

  assert {
    condition     = contains(one([for s in data.aws_iam_policy_document.state_machine["reprocess"].statement : s.resources if s.sid == "InvokeTheTaskFunctions"]), "arn:aws:lambda:eu-west-1:123456789012:function:imgpipe-test-reprocess-batch:live")
    error_message = "The state machine role should invoke the alias, by its ARN."
  }
}

run "puts_provisioned_concurrency_on_the_process_version_the_alias_moves_to" {
  variables {
    process_provisioned_concurrent_executions = 3
  }

  assert {
    condition = (
      length(aws_lambda_provisioned_concurrency_config.this) == 1
      && aws_lambda_provisioned_concurrency_config.this[0].function_name == "imgpipe-test-process"
      && aws_lambda_provisioned_concurrency_config.this[0].qualifier == aws_lambda_function.image["process"].version
      && aws_lambda_provisioned_concurrency_config.this[0].provisioned_concurrent_executions == 3
    )
    error_message = "The Process function, which does the pipeline's work for every upload, should get the provisioned concurrency on its published version."
  }

  assert {
    condition     = output.process_provisioned_concurrency == { function_name = "imgpipe-test-process", qualifier = "7", provisioned_concurrent_executions = 3 }
    error_message = "The output should name the function, version and amount."
  }
}

run "refuses_provisioned_concurrency_without_the_per_upload_workflow" {
  command = plan

  variables {
    upload_workflow_enabled                   = false
    process_provisioned_concurrent_executions = 2
  }

  expect_failures = [var.process_provisioned_concurrent_executions]
}

run "switches_the_malware_scan_off" {
  variables {
    malware_scan_enabled  = false
    scanner_image_digests = {}
  }

  assert {
    condition     = length(aws_lambda_function.scanner) == 0 && length(aws_scheduler_schedule.this) == 0 && !contains(keys(aws_iam_role.function), "scan")
    error_message = "Without the malware scan there should be no scanner, schedule or scanner role."
  }

  assert {
    condition     = jsondecode(aws_sfn_state_machine.this["upload"].definition).States.Start.Parameters.checks.malware == "false"
    error_message = "The definition should skip the Scan state."
  }
}

run "alarms_on_a_daily_database_update_over_two_days" {
  command = plan

  variables {
    signature_update_schedule = "rate(1 day)"
  }

  assert {
    condition     = toset([for query in aws_cloudwatch_metric_alarm.database_update[0].metric_query : query.metric[0].period if query.id != "succeeded"]) == toset([172800])
    error_message = "A daily update's alarm should look at two days, two runs: two 6-hour periods never hold two daily runs."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.signature_age[0].threshold == 48 * 3600
    error_message = "With a daily update, signatures up to 48 hours old are expected: the alarm should fire past that."
  }
}

run "alarms_on_the_signature_age_set" {
  command = plan

  variables {
    signature_max_age_hours = 12
    environment             = { IMGPIPE_OUTPUT_BUCKET = "o", IMGPIPE_QUARANTINE_BUCKET = "q", POWERTOOLS_SERVICE_NAME = "imgpipe-prod", POWERTOOLS_METRICS_NAMESPACE = "Acme/Images" }
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.signature_age[0].threshold == 12 * 3600 && aws_cloudwatch_metric_alarm.signature_age[0].namespace == "Acme/Images" && aws_cloudwatch_metric_alarm.signature_age[0].dimensions["service"] == "imgpipe-prod"
    error_message = "signature_max_age_hours should set the threshold, and the alarm should read the namespace and service the scanner writes under."
  }
}

run "refuses_a_signature_age_out_of_range" {
  command = plan

  variables {
    signature_max_age_hours = 0
  }

  expect_failures = [var.signature_max_age_hours]
}

run "refuses_the_malware_scan_without_a_scanner_image" {
  command = plan

  variables {
    scanner_image_digests = {}
  }

  expect_failures = [aws_sfn_state_machine.this]
}

run "refuses_a_process_timeout_over_the_state_timeout" {
  command = plan

  variables {
    timeout = 120
  }

  expect_failures = [var.timeout]
}

run "refuses_an_out_of_range_confidence_and_a_category_with_a_comma" {
  command = plan

  variables {
    moderation_min_confidence = 101
    moderation_categories     = ["Explicit,Violence"]
  }

  expect_failures = [var.moderation_min_confidence, var.moderation_categories]
}

run "refuses_an_image_by_tag" {
  command = plan

  variables {
    image_uri = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/imgpipe-test:latest"
  }

  expect_failures = [var.image_uri]
}

# A pipeline document with which the imgpipe function's environment (the one below, as
# modules/imgpipe makes it) fits Lambda's 4 KB (its tests/outcomes.tftest.hcl: 37 such variants)
# takes the task functions' past it, with their own variables: Lambda would refuse them at the apply.
run "refuses_a_task_environment_over_what_lambda_accepts" {
  command = plan

  variables {
    environment = {
      IMGPIPE_CONFIG = jsonencode({
        formats  = ["avif", "webp", "jpeg"]
        variants = [for i in range(37) : { name = "v${i}", width = 100 * (i + 1), fit = "inside", formats = ["avif", "webp", "jpeg"] }]
      })
      IMGPIPE_OUTPUT_BUCKET            = "imgpipe-test-output-123456789012"
      IMGPIPE_OUTPUT_PREFIX            = ""
      IMGPIPE_QUARANTINE_BUCKET        = "imgpipe-test-quarantine-123456789012"
      IMGPIPE_QUARANTINE_PREFIX        = ""
      IMGPIPE_MAX_PIXELS               = "50000000"
      POWERTOOLS_SERVICE_NAME          = "imgpipe"
      POWERTOOLS_METRICS_NAMESPACE     = "imgpipe"
      POWERTOOLS_LOG_LEVEL             = "INFO"
      POWERTOOLS_METRICS_FUNCTION_NAME = "imgpipe-test"
      POWERTOOLS_TRACE_ENABLED         = "true"
      IMGPIPE_EVENT_BUS                = "arn:aws:events:eu-west-1:123456789012:event-bus/imgpipe-test"
      IMGPIPE_DELETE_OUTPUTS           = "true"
      IMGPIPE_STATUS_TABLE             = "imgpipe-test-status"
    }
  }

  expect_failures = [aws_lambda_function.image]
}

# IMGPIPE_MEMORY_MB overrides the tuned memory's budget: the tasks of their own memory do without it
# (1024 stopped the init of Inspect, 512 MB, and RecordFailure, 256 MB); the tasks of the tuned
# memory keep it.
run "passes_a_memory_budget_override_to_the_tasks_of_the_tuned_memory_alone" {
  variables {
    environment = { IMGPIPE_OUTPUT_BUCKET = "imgpipe-test-output-123456789012", IMGPIPE_QUARANTINE_BUCKET = "imgpipe-test-quarantine-123456789012", POWERTOOLS_SERVICE_NAME = "imgpipe", IMGPIPE_MAX_BYTES = "1000000", IMGPIPE_MEMORY_MB = "1024" }
  }

  assert {
    condition     = alltrue([for key in ["process", "moderate", "reprocess-batch"] : aws_lambda_function.image[key].environment[0].variables["IMGPIPE_MEMORY_MB"] == "1024"])
    error_message = "The tasks of the tuned memory should keep IMGPIPE_MEMORY_MB."
  }

  assert {
    condition     = alltrue([for key in ["inspect", "quarantine", "fail", "reprocess-plan", "reprocess-summarize"] : !contains(keys(aws_lambda_function.image[key].environment[0].variables), "IMGPIPE_MEMORY_MB")])
    error_message = "A task of its own memory should not get the tuned memory's IMGPIPE_MEMORY_MB: over its memory, its init is refused."
  }
}

# The scanner reads an object whole beside clamd's engine and has clamd write it to /tmp: a maxBytes
# over what its memory or /tmp holds would quarantine every such upload as too-large.
run "refuses_a_max_bytes_over_what_the_scanner_can_scan" {
  command = plan

  variables {
    environment = { IMGPIPE_OUTPUT_BUCKET = "imgpipe-test-output-123456789012", IMGPIPE_QUARANTINE_BUCKET = "imgpipe-test-quarantine-123456789012", POWERTOOLS_SERVICE_NAME = "imgpipe", IMGPIPE_MAX_BYTES = "2000000000" }
  }

  expect_failures = [aws_lambda_function.scanner]
}

# The function reads IMGPIPE_MAX_BYTES as digits grouped by underscores too (src/config/env.ts,
# envInteger): 2_000_000_000 is 2000000000 to the scanner, so the plan refuses it as well.
run "refuses_a_max_bytes_written_with_underscores_over_what_the_scanner_can_scan" {
  command = plan

  variables {
    environment = { IMGPIPE_OUTPUT_BUCKET = "imgpipe-test-output-123456789012", IMGPIPE_QUARANTINE_BUCKET = "imgpipe-test-quarantine-123456789012", POWERTOOLS_SERVICE_NAME = "imgpipe", IMGPIPE_MAX_BYTES = "2_000_000_000" }
  }

  expect_failures = [aws_lambda_function.scanner]
}

run "refuses_a_pipeline_max_bytes_over_the_scanners_temporary_storage" {
  command = plan

  variables {
    scanner_memory_size            = 10240
    scanner_ephemeral_storage_size = 1024
    environment                    = { IMGPIPE_OUTPUT_BUCKET = "imgpipe-test-output-123456789012", IMGPIPE_QUARANTINE_BUCKET = "imgpipe-test-quarantine-123456789012", POWERTOOLS_SERVICE_NAME = "imgpipe", IMGPIPE_CONFIG = jsonencode({ limits = { maxBytes = 700000000 } }) }
  }

  expect_failures = [aws_lambda_function.scanner]
}

# IMGPIPE_MAX_BYTES overrides the pipeline document's limits.maxBytes (src/config/index.ts): the
# scanner gets the lower figure, so a larger one in the document is no reason to refuse the plan.
run "accepts_a_pipeline_max_bytes_that_imgpipe_max_bytes_overrides" {
  command = plan

  variables {
    environment = { IMGPIPE_OUTPUT_BUCKET = "imgpipe-test-output-123456789012", IMGPIPE_QUARANTINE_BUCKET = "imgpipe-test-quarantine-123456789012", POWERTOOLS_SERVICE_NAME = "imgpipe", IMGPIPE_MAX_BYTES = "33554432", IMGPIPE_CONFIG = jsonencode({ limits = { maxBytes = 4000000000 } }) }
  }

  assert {
    condition     = aws_lambda_function.scanner["scan"].ephemeral_storage[0].size == 2048
    error_message = "A maxBytes the scanner never gets (IMGPIPE_MAX_BYTES overrides it) should not refuse the plan."
  }
}

run "sizes_the_scanners_temporary_storage_for_a_larger_max_bytes" {
  command = plan

  variables {
    scanner_memory_size            = 4096
    scanner_ephemeral_storage_size = 4608
    environment                    = { IMGPIPE_OUTPUT_BUCKET = "imgpipe-test-output-123456789012", IMGPIPE_QUARANTINE_BUCKET = "imgpipe-test-quarantine-123456789012", POWERTOOLS_SERVICE_NAME = "imgpipe", IMGPIPE_MAX_BYTES = "2000000000" }
  }

  # 4608 MB less the database and clamd's other files, halved for what clamd unpacks: 2097 MiB, over
  # clamd's 2147483645 bytes (4096 would hold 1841 MiB, under the 2000000000 asked).
  assert {
    condition     = aws_lambda_function.scanner["scan"].ephemeral_storage[0].size == 4608 && aws_lambda_function.scanner["update-database"].ephemeral_storage[0].size == 4608
    error_message = "The scanner functions should take scanner_ephemeral_storage_size."
  }
}

run "refuses_a_scanner_ephemeral_storage_out_of_range" {
  command = plan

  variables {
    scanner_ephemeral_storage_size = 512
  }

  expect_failures = [var.scanner_ephemeral_storage_size]
}

run "releases_each_task_function_through_its_own_codedeploy_deployment_group" {
  variables {
    codedeploy_app_name       = "imgpipe-test"
    codedeploy_role_name      = "imgpipe-test-codedeploy"
    release_deployment_config = "CodeDeployDefault.LambdaCanary10Percent15Minutes"
  }

  assert {
    condition     = toset(keys(aws_codedeploy_deployment_group.this)) == setunion(keys(aws_lambda_function.image), keys(aws_lambda_function.scanner)) && length(aws_codedeploy_deployment_group.this) == 10
    error_message = "Each task function the state machines invoke through its live alias should have a deployment group."
  }

  assert {
    condition = alltrue([
      for key, group in aws_codedeploy_deployment_group.this :
      group.app_name == "imgpipe-test" && group.deployment_group_name == "task-${key}" && group.deployment_config_name == "CodeDeployDefault.LambdaCanary10Percent15Minutes"
      && group.service_role_arn == "arn:aws:iam::123456789012:role/imgpipe-test-codedeploy"
      && group.auto_rollback_configuration[0].enabled && contains(group.auto_rollback_configuration[0].events, "DEPLOYMENT_STOP_ON_ALARM")
      && group.alarm_configuration[0].enabled && !group.alarm_configuration[0].ignore_poll_alarm_failure
      && group.alarm_configuration[0].alarms == toset(["imgpipe-test-${key}-release-errors"])
    ])
    error_message = "Each group should shift its alias with the release's configuration and roll back on its own alarm."
  }

  # The new version's errors behind the alias, as the state machines invoke it: not the function's,
  # which counts the version being replaced.
  assert {
    condition = alltrue([
      for key, alarm in aws_cloudwatch_metric_alarm.release :
      alarm.metric_name == "Errors" && alarm.threshold == 0
      && alarm.dimensions.FunctionName == "imgpipe-test-${key}" && alarm.dimensions.Resource == "imgpipe-test-${key}:live"
      && alarm.dimensions.ExecutedVersion == merge(aws_lambda_function.image, aws_lambda_function.scanner)[key].version && length(alarm.dimensions) == 3
    ])
    error_message = "Each release alarm should read the new version's errors behind the live alias."
  }

  assert {
    condition     = alltrue([for key in keys(aws_lambda_function.image) : contains(one(data.aws_iam_policy_document.codedeploy[0].statement).resources, "${local.function_arns[key]}:*")]) && aws_iam_role_policy.codedeploy[0].role == "imgpipe-test-codedeploy"
    error_message = "The release role should be allowed to move each task function's alias."
  }

  assert {
    condition     = output.task_releases["imgpipe-test-process"].deployment_group == "task-process" && output.task_releases["imgpipe-test-process"].version == aws_lambda_function.image["process"].version
    error_message = "The output should give deploy.yml each function's deployment group and new version."
  }
}

# The scanner image's functions are released as the others: a version per apply, a live alias the
# upload state machine and the schedule invoke, a CodeDeploy deployment group with its alarm. Not
# $LATEST, which every apply replaced at once for every upload, with no canary and no rollback.
run "releases_the_scanner_functions_through_their_live_alias" {
  variables {
    codedeploy_app_name       = "imgpipe-test"
    codedeploy_role_name      = "imgpipe-test-codedeploy"
    release_deployment_config = "CodeDeployDefault.LambdaCanary10Percent15Minutes"
  }

  assert {
    condition = alltrue([for fn in aws_lambda_function.scanner : fn.publish]) && alltrue([
      for key in ["scan", "update-database"] : aws_lambda_alias.this[key].name == "live" && aws_lambda_alias.this[key].function_version == aws_lambda_function.scanner[key].version
    ])
    error_message = "The scan and update-database functions should publish versions and have a live alias created on the first one."
  }

  assert {
    condition     = endswith(jsondecode(aws_sfn_state_machine.this["upload"].definition).States.Scan.Resource, ":function:imgpipe-test-scan:live") && contains(one([for s in data.aws_iam_policy_document.state_machine["upload"].statement : s.resources if s.sid == "InvokeTheTaskFunctions"]), "arn:aws:lambda:eu-west-1:123456789012:function:imgpipe-test-scan:live")
    error_message = "The upload state machine should invoke the scan function's live alias, and its role be allowed to."
  }

  assert {
    condition     = aws_scheduler_schedule.this[0].target[0].arn == aws_lambda_alias.this["update-database"].arn && one(data.aws_iam_policy_document.scheduler[0].statement).resources == toset(["arn:aws:lambda:eu-west-1:123456789012:function:imgpipe-test-update-database:live"])
    error_message = "The schedule should invoke the database update's live alias, and its role be allowed to."
  }

  assert {
    condition = alltrue([
      for key in ["scan", "update-database"] :
      aws_codedeploy_deployment_group.this[key].deployment_group_name == "task-${key}"
      && aws_codedeploy_deployment_group.this[key].alarm_configuration[0].alarms == toset(["imgpipe-test-${key}-release-errors"])
      && aws_cloudwatch_metric_alarm.release[key].dimensions.ExecutedVersion == aws_lambda_function.scanner[key].version
      && output.task_releases["imgpipe-test-${key}"].deployment_group == "task-${key}"
      && output.task_releases["imgpipe-test-${key}"].version == aws_lambda_function.scanner[key].version
      && contains(one(data.aws_iam_policy_document.codedeploy[0].statement).resources, "arn:aws:lambda:eu-west-1:123456789012:function:imgpipe-test-${key}:*")
    ])
    error_message = "The scanner functions should each have a deployment group rolling back on their new version's errors, in the output deploy.yml releases from."
  }
}

run "has_no_deployment_groups_without_the_release_application" {
  assert {
    condition     = length(aws_codedeploy_deployment_group.this) == 0 && output.task_releases == {}
    error_message = "Without codedeploy_app_name no deployment group should be created."
  }
}
