# `terraform test` with a mocked AWS provider: no account needed. Checks the release set-up (alias,
# CodeDeploy, hooks, alarms, provisioned concurrency), where the source bucket's events go, and the input validation, which
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

run "creates_the_alias_on_the_published_version_and_leaves_it_to_codedeploy" {
  assert {
    condition     = aws_lambda_alias.this.function_version == "7" && length(aws_lambda_alias.this.routing_config) == 0
    error_message = "The first apply should create the alias on the version it published, without weights."
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
}

run "releases_through_codedeploy_with_rollback_on_failure_alarm_and_stop" {
  command = plan

  assert {
    condition     = aws_codedeploy_app.this.compute_platform == "Lambda" && aws_codedeploy_deployment_group.this.deployment_config_name == "CodeDeployDefault.LambdaCanary10Percent10Minutes"
    error_message = "The release should be a CodeDeploy Lambda deployment, a 10% canary for 10 minutes by default."
  }

  assert {
    condition = (
      aws_codedeploy_deployment_group.this.auto_rollback_configuration[0].enabled
      && toset(aws_codedeploy_deployment_group.this.auto_rollback_configuration[0].events) == toset(["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM", "DEPLOYMENT_STOP_ON_REQUEST"])
    )
    error_message = "CodeDeploy should roll back on a failure, an alarm and a stop."
  }

  assert {
    condition = (
      aws_codedeploy_deployment_group.this.alarm_configuration[0].enabled
      && toset(aws_codedeploy_deployment_group.this.alarm_configuration[0].alarms) == toset([
        "imgpipe-test-canary-duration-p99", "imgpipe-test-canary-errors", "imgpipe-test-canary-failure-ratio", "imgpipe-test-canary-quarantine-ratio",
      ])
      && output.release_alarm_names == tolist(aws_codedeploy_deployment_group.this.alarm_configuration[0].alarms)
    )
    error_message = "The deployment group should watch the new version's errors, p99, quarantine and failure ratios, and no function-wide alarm."
  }

  assert {
    condition = alltrue([
      for key in ["canary-errors", "canary-duration-p99"] : toset([
        for q in aws_cloudwatch_metric_alarm.canary[key].metric_query : q.metric[0].dimensions if length(q.metric) > 0
        ]) == toset([
        tomap({ FunctionName = "imgpipe-test", Resource = "imgpipe-test:live", ExecutedVersion = "7" }),
        tomap({ FunctionName = "imgpipe-test", Resource = "imgpipe-test:7" }),
      ])
    ])
    error_message = "The canary errors and p99 alarms should watch version 7 behind the live alias and invoked as itself (the release checks and the synthetic traffic)."
  }

  assert {
    condition = alltrue([
      for q in aws_cloudwatch_metric_alarm.ratio["canary-quarantine-ratio"].metric_query : q.metric[0].dimensions == tomap({ service = "imgpipe-test", version = "imgpipe-test:7" }) if length(q.metric) > 0
    ])
    error_message = "The canary quarantine ratio should read the outcome metrics of this function's version 7 (dimension version, imgpipe-test:7: a workflow task's version 7 is another function's)."
  }

  assert {
    condition = (
      aws_lambda_function.release_check["BeforeAllowTraffic"].image_config[0].command == tolist(["index.releaseCheck"])
      && aws_lambda_function.release_check["AfterAllowTraffic"].image_config[0].command == tolist(["index.releaseCheckAfter"])
      && aws_lambda_function.release_check["BeforeAllowTraffic"].environment[0].variables.IMGPIPE_RELEASE_CHECK_BUCKET == module.source_bucket.s3_bucket_id
      && aws_lambda_function.release_check["BeforeAllowTraffic"].image_uri == aws_lambda_function.this.image_uri
    )
    error_message = "The hooks should run the release's image with the release check entry points and the source bucket."
  }
}

run "keeps_every_alarm_from_paging_on_one_blip_but_counts_every_lost_event" {
  command = plan

  assert {
    condition = alltrue([
      for key in ["errors", "throttles", "duration-p99", "async-event-age"] :
      aws_cloudwatch_metric_alarm.this[key].datapoints_to_alarm == 3 && aws_cloudwatch_metric_alarm.this[key].evaluation_periods == 5
    ]) && alltrue([for a in aws_cloudwatch_metric_alarm.canary : a.datapoints_to_alarm == 3 && a.evaluation_periods == 5]) && alltrue([for a in aws_cloudwatch_metric_alarm.ratio : a.datapoints_to_alarm == 3 && a.evaluation_periods == 5])
    error_message = "Noisy signals should need 3 breaching datapoints out of 5."
  }

  assert {
    condition = alltrue([
      for key in ["dead-letter-queue", "async-events-dropped", "destination-delivery-failures", "events-failed", "image-alerts-failed"] :
      aws_cloudwatch_metric_alarm.this[key].datapoints_to_alarm == 1 && aws_cloudwatch_metric_alarm.this[key].threshold == 0
    ])
    error_message = "A lost event should alarm at once."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.this["async-events-dropped"].metric_name == "AsyncEventsDropped" && aws_cloudwatch_metric_alarm.this["destination-delivery-failures"].metric_name == "DestinationDeliveryFailures"
    error_message = "Dropped events and failed deliveries to the dead-letter queue should alarm."
  }

  assert {
    condition = (
      one([for q in aws_cloudwatch_metric_alarm.ratio["quarantine-ratio"].metric_query : q.expression if q.id == "ratio"]) == "IF(total >= 10, FILL(q, 0) / total, 0)"
      && aws_cloudwatch_metric_alarm.ratio["quarantine-ratio"].threshold == 0.5 && aws_cloudwatch_metric_alarm.ratio["failure-ratio"].threshold == 0.05
    )
    error_message = "The function-wide ratios should count only periods with at least alarm_ratio_min_objects objects."
  }
}

run "puts_provisioned_concurrency_on_the_version_codedeploy_shifts_to" {
  variables {
    provisioned_concurrent_executions = 2
  }

  assert {
    condition     = aws_lambda_provisioned_concurrency_config.this[0].qualifier == "7"
    error_message = "Provisioned concurrency belongs on the published version's number, warm before traffic moves to it."
  }
}

run "takes_a_linear_configuration_and_refuses_an_unknown_one" {
  command = plan

  variables {
    release_deployment_config = "CodeDeployDefault.LambdaLinear10PercentEvery1Minute"
  }

  assert {
    condition     = aws_codedeploy_deployment_group.this.deployment_config_name == "CodeDeployDefault.LambdaLinear10PercentEvery1Minute"
    error_message = "A predefined linear configuration should be accepted."
  }
}

run "refuses_an_unknown_deployment_configuration" {
  command = plan

  variables {
    release_deployment_config = "CodeDeployDefault.AllAtOnce"
  }

  expect_failures = [var.release_deployment_config]
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

run "sends_deletions_to_the_function_in_the_workflow_mode" {
  variables {
    source_events_to_eventbridge = true
    source_notification_filters  = [{ prefix = "uploads/" }, { prefix = "photos/", suffix = ".jpg" }]
  }

  # The upload rule (workflow module) starts state machines for Object Created alone: removals of
  # the keys the filters take must still reach the function, which deletes outputs and records them.
  assert {
    condition = jsondecode(aws_cloudwatch_event_rule.source_deleted[0].event_pattern) == {
      source        = ["aws.s3"]
      "detail-type" = ["Object Deleted"]
      detail = {
        bucket = { name = [module.source_bucket.s3_bucket_id] }
        object = { key = [{ wildcard = "uploads/*" }, { wildcard = "photos/*.jpg" }] }
      }
    }
    error_message = "In the workflow mode a rule should send the source bucket's Object Deleted events of the filtered keys to the function."
  }

  assert {
    condition = (
      aws_cloudwatch_event_target.source_deleted[0].arn == aws_lambda_alias.this.arn
      && aws_lambda_permission.source_deleted[0].principal == "events.amazonaws.com"
      && aws_lambda_permission.source_deleted[0].qualifier == "live"
      && aws_lambda_permission.source_deleted[0].source_arn == aws_cloudwatch_event_rule.source_deleted[0].arn
    )
    error_message = "The deletion rule should invoke the live alias, with a permission for that rule alone."
  }

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.this["source-deleted-failed"].namespace == "AWS/Events"
      && aws_cloudwatch_metric_alarm.this["source-deleted-failed"].metric_name == "FailedInvocations"
      && aws_cloudwatch_metric_alarm.this["source-deleted-failed"].dimensions == tomap({ RuleName = aws_cloudwatch_event_rule.source_deleted[0].name })
      && aws_cloudwatch_metric_alarm.this["source-deleted-failed"].threshold == 0
      && aws_cloudwatch_metric_alarm.this["source-deleted-failed"].evaluation_periods == 1
      && aws_cloudwatch_metric_alarm.this["source-deleted-failed"].alarm_actions == toset([aws_sns_topic.this.arn])
      && output.cloudwatch_metric_alarm_names.source_deleted_failed == "imgpipe-test-source-deleted-failed"
    )
    error_message = "Deletions the rule could not deliver (removals not recorded, outputs left published) should raise a notifying alarm on the first one."
  }

  # A deletion the rule could not deliver (refused, or throttled past the retry policy) was dropped:
  # the target must keep it in its own dead-letter queue, encrypted by SQS (no key policy to get right).
  assert {
    condition = (
      one(aws_cloudwatch_event_target.source_deleted[0].dead_letter_config).arn == aws_sqs_queue.source_deleted[0].arn
      && one(aws_cloudwatch_event_target.source_deleted[0].retry_policy).maximum_event_age_in_seconds == 86400
      && aws_sqs_queue.source_deleted[0].name == "imgpipe-test-source-deleted-dlq"
      && aws_sqs_queue.source_deleted[0].sqs_managed_sse_enabled == true
      && output.source_deleted_dlq_url == aws_sqs_queue.source_deleted[0].url
    )
    error_message = "The deletion rule's target should send what it could not deliver to its own dead-letter queue, encrypted by SQS, after the day of retries."
  }

  assert {
    condition = (
      aws_sqs_queue_policy.this[0].queue_url == aws_sqs_queue.source_deleted[0].id
      && jsonencode([
        for s in data.aws_iam_policy_document.source_deleted_queue[0].statement :
        [s.actions, s.resources, [for p in s.principals : [p.type, p.identifiers]], [for c in s.condition : [c.test, c.variable, c.values]]]
        ]) == jsonencode([[["sqs:SendMessage"], [aws_sqs_queue.source_deleted[0].arn], [["Service", ["events.amazonaws.com"]]],
          [["ArnEquals", "aws:SourceArn", [aws_cloudwatch_event_rule.source_deleted[0].arn]]],
      ]])
    )
    error_message = "Only the deletion rule should be able to send to its dead-letter queue."
  }

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.this["source-deleted-dead-letter-queue"].namespace == "AWS/SQS"
      && aws_cloudwatch_metric_alarm.this["source-deleted-dead-letter-queue"].metric_name == "ApproximateNumberOfMessagesVisible"
      && aws_cloudwatch_metric_alarm.this["source-deleted-dead-letter-queue"].dimensions == tomap({ QueueName = aws_sqs_queue.source_deleted[0].name })
      && aws_cloudwatch_metric_alarm.this["source-deleted-dead-letter-queue"].threshold == 0
      && aws_cloudwatch_metric_alarm.this["source-deleted-dead-letter-queue"].alarm_actions == toset([aws_sns_topic.this.arn])
      && aws_cloudwatch_metric_alarm.this["source-deleted-dead-letter-failed"].metric_name == "InvocationsFailedToBeSentToDlq"
      && aws_cloudwatch_metric_alarm.this["source-deleted-dead-letter-failed"].dimensions == tomap({ RuleName = aws_cloudwatch_event_rule.source_deleted[0].name })
    )
    error_message = "Deletions waiting in the rule's dead-letter queue, or refused by it, should raise notifying alarms."
  }
}

run "matches_a_star_or_backslash_of_a_filter_literally_in_the_deletion_rule" {
  command = plan

  variables {
    source_events_to_eventbridge = true
    source_notification_filters  = [{ prefix = "raw*\\in/", suffix = ".jpg" }, { prefix = "star*" }]
  }

  # EventBridge reads `*` in a wildcard as any run of characters and `\` as an escape: S3 and the
  # code match the filters literally, so the rule must escape both (raw*\in/ is `raw\*\\in/`).
  assert {
    condition     = jsondecode(aws_cloudwatch_event_rule.source_deleted[0].event_pattern).detail.object.key == [{ wildcard = "raw\\*\\\\in/*.jpg" }, { wildcard = "star\\**" }]
    error_message = "A * or \\ in a prefix or suffix should be escaped in the wildcard (\\* and \\\\), so deletions of keys the filters do not take are not sent to the function."
  }
}

run "names_the_release_check_manifest_under_the_prefix_and_template" {
  command = plan

  variables {
    output_prefix   = "out/"
    pipeline_config = "{\"manifestTemplate\": \"meta/{dir}{name}.{srcext}.manifest.json\"}"
  }

  # deploy.yml waits for this key after uploading the photo: the function's own manifestKey.
  assert {
    condition     = output.release_check_manifest_key == "out/meta/imgpipe-release-check/photo.jpg.manifest.json"
    error_message = "The release check manifest key should apply the output prefix and the document's manifest template."
  }
}

run "names_the_release_check_manifest_by_default" {
  command = plan

  assert {
    condition     = output.release_check_manifest_key == "manifests/imgpipe-release-check/photo.jpg.json"
    error_message = "Without a template the release check manifest key should be the default template's."
  }
}

run "does_not_guess_the_release_check_manifest_of_a_document_in_parameter_store" {
  command = plan

  variables {
    pipeline_config_parameter_name = "/imgpipe/test/pipeline"
  }

  assert {
    condition     = output.release_check_manifest_key == null
    error_message = "Terraform does not read the parameter: the key should be null rather than the default template's."
  }
}

run "leaves_deletions_to_the_notification_in_the_direct_mode" {
  command = plan

  assert {
    condition     = length(aws_cloudwatch_event_rule.source_deleted) == 0 && length(aws_lambda_permission.source_deleted) == 0
    error_message = "In the direct mode the notification sends removals to the function; no rule should send them twice."
  }

  assert {
    condition = (
      length(setintersection(keys(aws_cloudwatch_metric_alarm.this), ["source-deleted-failed", "source-deleted-dead-letter-queue", "source-deleted-dead-letter-failed"])) == 0
      && length(aws_sqs_queue.source_deleted) == 0 && output.source_deleted_dlq_url == null
    )
    error_message = "Without the deletion rule there is no dead-letter queue of it and no alarm on its deliveries."
  }
}

run "invokes_the_function_for_each_of_several_disjoint_filters" {
  command = plan

  variables {
    # Same prefix with different suffixes, and different prefixes with the same suffix: S3 takes both.
    source_notification_filters = [
      { prefix = "photos/", suffix = ".jpg" },
      { prefix = "photos/", suffix = ".png" },
      { prefix = "scans/", suffix = ".jpg" },
    ]
  }

  assert {
    condition     = [for target in aws_s3_bucket_notification.this.lambda_function : "${target.filter_prefix}*${target.filter_suffix}"] == ["photos/*.jpg", "photos/*.png", "scans/*.jpg"]
    error_message = "Each filter should be one notification target with its own prefix and suffix."
  }
}

run "refuses_overlapping_filters_s3_would_refuse_at_apply" {
  command = plan

  variables {
    # "photos/a.jpg" matches both: S3 refuses the configuration as overlapping.
    source_notification_filters = [{ prefix = "photos/" }, { suffix = ".jpg" }]
  }

  expect_failures = [var.source_notification_filters]
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

  assert {
    condition     = aws_lambda_function.this.logging_config[0].system_log_level == "INFO" && aws_lambda_function.this.logging_config[0].log_format == "JSON"
    error_message = "The platform.report record (INFO) must be logged: the memory sweep and Logs Insights read duration and max memory from it."
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

# Under 512 MB the function's encoder baseline (350 MiB) leaves no room for an image: its init
# stops (src/handlers/lambda.ts), where it once quarantined every image as over-memory-budget.
run "refuses_a_memory_that_cannot_hold_the_encoder_and_an_image" {
  command = plan

  variables {
    memory_size = 384
  }

  expect_failures = [var.memory_size]
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

# IMGPIPE_MEMORY_MB is the function's memory budget (environment_variables); the hooks have 512 MB of
# their own, and a budget over it stops their init ("Expected integer between 0 and 512 for
# IMGPIPE_MEMORY_MB"): every release would fail its check and be rolled back.
run "leaves_the_functions_memory_budget_out_of_the_hooks" {
  command = plan

  variables {
    environment_variables = { IMGPIPE_MEMORY_MB = "2048" }
  }

  assert {
    condition     = aws_lambda_function.this.environment[0].variables.IMGPIPE_MEMORY_MB == "2048"
    error_message = "The function should keep its IMGPIPE_MEMORY_MB."
  }

  assert {
    condition     = alltrue([for hook in aws_lambda_function.release_check : !contains(keys(hook.environment[0].variables), "IMGPIPE_MEMORY_MB")])
    error_message = "The release check hooks, of 512 MB, should not get the function's IMGPIPE_MEMORY_MB."
  }
}
