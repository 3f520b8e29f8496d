# `terraform test` with the mocked AWS provider: the status table, outcome events, image alerts,
# S3 removals, tracing and the pipeline parameter (issue #8), and their input validation.

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

# The mock answers one ARN per resource type; the two topics need their own.
override_resource {
  target = aws_sns_topic.image_alerts
  values = { arn = "arn:aws:sns:eu-west-1:123456789012:imgpipe-test-image-alerts" }
}

run "creates_the_status_table_and_passes_it_to_both_functions" {
  assert {
    condition = (
      aws_dynamodb_table.this[0].name == "imgpipe-test-status" && aws_dynamodb_table.this[0].billing_mode == "PAY_PER_REQUEST"
      && aws_dynamodb_table.this[0].hash_key == "id" && aws_dynamodb_table.this[0].deletion_protection_enabled
    )
    error_message = "The status table should be <name>-status, on demand, keyed by id, protected from deletion by default."
  }

  assert {
    condition = (
      one(aws_dynamodb_table.this[0].global_secondary_index[*].name) == "byStatus"
      && one(aws_dynamodb_table.this[0].global_secondary_index[*].hash_key) == "listStatus"
      && one(aws_dynamodb_table.this[0].global_secondary_index[*].range_key) == "updatedAt"
      && one(aws_dynamodb_table.this[0].global_secondary_index[*].projection_type) == "ALL"
    )
    error_message = "The byStatus index should list items by listStatus and updatedAt, with every attribute."
  }

  assert {
    condition     = aws_dynamodb_table.this[0].point_in_time_recovery[0].enabled && aws_dynamodb_table.this[0].server_side_encryption[0].kms_key_arn == module.kms.key_arn
    error_message = "The status table should have point-in-time recovery and be encrypted with the module's key."
  }

  assert {
    condition = (
      aws_lambda_function.this.environment[0].variables.IMGPIPE_STATUS_TABLE == "imgpipe-test-status"
      && output.lambda_environment.IMGPIPE_STATUS_TABLE == "imgpipe-test-status"
    )
    error_message = "The function, and the workflow module's task functions through lambda_environment, should write status to the table."
  }

  assert {
    condition = (
      [for s in data.aws_iam_policy_document.records.statement : s.resources if s.sid == "ReadAndWriteStatusItems"] == [toset(["arn:aws:dynamodb:eu-west-1:123456789012:table/imgpipe-test-status"])]
      && [for s in data.aws_iam_policy_document.outcomes.statement : s.resources if s.sid == "ListStatusItemsByTheIndex"] == [toset(["arn:aws:dynamodb:eu-west-1:123456789012:table/imgpipe-test-status/index/byStatus"])]
    )
    error_message = "The functions should read and write the table's items and query its index, by exact ARN."
  }

  assert {
    condition     = output.status_table_name == "imgpipe-test-status" && output.cloudwatch_metric_alarm_names.status_throttles == "imgpipe-test-status-throttles"
    error_message = "The table and its throttling alarm should be in the outputs."
  }
}

run "leaves_out_the_status_table_when_disabled" {
  variables {
    create_status_table = false
  }

  assert {
    condition     = length(aws_dynamodb_table.this) == 0 && length(aws_cloudwatch_metric_alarm.status_throttles) == 0 && output.status_table_name == null
    error_message = "create_status_table = false should create no table and no throttling alarm."
  }

  assert {
    condition     = !contains(keys(aws_lambda_function.this.environment[0].variables), "IMGPIPE_STATUS_TABLE")
    error_message = "Without the table the function should get no IMGPIPE_STATUS_TABLE, and so write no status."
  }

  assert {
    condition     = alltrue([for s in concat(data.aws_iam_policy_document.records.statement, data.aws_iam_policy_document.outcomes.statement) : !anytrue([for a in s.actions : startswith(a, "dynamodb:")])])
    error_message = "Without the table the roles should get no DynamoDB action."
  }
}

run "creates_a_bus_and_lets_the_functions_put_on_it_alone" {
  assert {
    condition     = aws_cloudwatch_event_bus.this[0].name == "imgpipe-test" && length(data.aws_cloudwatch_event_bus.existing) == 0
    error_message = "Without event_bus_name the module should create the bus <name>."
  }

  assert {
    condition = (
      aws_lambda_function.this.environment[0].variables.IMGPIPE_EVENT_BUS == "arn:aws:events:eu-west-1:123456789012:event-bus/imgpipe-test"
      && output.lambda_environment.IMGPIPE_EVENT_BUS == aws_lambda_function.this.environment[0].variables.IMGPIPE_EVENT_BUS
    )
    error_message = "The function and the task functions should put their events on the created bus, named by ARN."
  }

  assert {
    condition     = [for s in data.aws_iam_policy_document.records.statement : s.resources if contains(s.actions, "events:PutEvents")] == [toset(["arn:aws:events:eu-west-1:123456789012:event-bus/imgpipe-test"])]
    error_message = "events:PutEvents should be granted on exactly the bus's ARN."
  }

  assert {
    condition = jsonencode(jsondecode(aws_cloudwatch_event_rule.this.event_pattern)) == jsonencode({
      source        = ["imgpipe"]
      "detail-type" = ["Image Quarantined", "Image Failed"]
      account       = ["123456789012"]
      detail = {
        bucket = [module.source_bucket.s3_bucket_id]
        key    = [{ "anything-but" = { prefix = "imgpipe-release-check/" } }]
      }
    })
    error_message = "The image alerts rule should match this deployment's Image Quarantined and Image Failed events from imgpipe: this account's, of its source bucket, but for the release check's objects."
  }

  assert {
    condition     = aws_cloudwatch_event_rule.this.event_bus_name == "imgpipe-test" && aws_cloudwatch_event_target.this.event_bus_name == "imgpipe-test"
    error_message = "The rule and its target should be on the bus the functions put on."
  }

  assert {
    condition     = aws_cloudwatch_event_target.this.arn == aws_sns_topic.image_alerts.arn && aws_sns_topic.image_alerts.name == "imgpipe-test-image-alerts"
    error_message = "The rule should send to the image alerts topic."
  }

  assert {
    condition     = aws_sns_topic.image_alerts.kms_master_key_id == module.kms.key_arn && aws_sns_topic.image_alerts.arn != aws_sns_topic.this.arn
    error_message = "The image alerts topic should be its own, encrypted with the module's key."
  }

  assert {
    condition     = local.image_alerts_topic_arn == aws_sns_topic.image_alerts.arn
    error_message = "The key policy should name the image alerts topic by its ARN."
  }

  assert {
    condition = jsonencode([
      for s in data.aws_iam_policy_document.kms.statement : [for c in s.condition : [c.test, c.variable, sort(c.values)]]
      if contains(flatten([for p in s.principals : p.identifiers]), "events.amazonaws.com")
    ]) == jsonencode([[["StringEquals", "kms:EncryptionContext:aws:sns:topicArn", [aws_sns_topic.image_alerts.arn]]]])
    error_message = "EventBridge should use the key for the image alerts topic alone (encryption context), with no aws:SourceArn or aws:SourceAccount, which a key policy cannot use for EventBridge-to-encrypted-topic delivery: every alert would be refused."
  }

  assert {
    condition = jsonencode([
      for s in data.aws_iam_policy_document.image_alerts.statement : [for c in s.condition : [c.test, c.variable, sort(c.values)]]
      if contains(s.actions, "sns:Publish") && one(s.principals).type == "Service"
    ]) == jsonencode([[["ArnEquals", "aws:SourceArn", ["arn:aws:events:eu-west-1:123456789012:rule/imgpipe-test/imgpipe-test-image-alerts"]]]])
    error_message = "Only the image alerts rule may publish to the topic (aws:SourceArn)."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.this["image-alerts-failed"].dimensions == tomap({ EventBusName = "imgpipe-test", RuleName = "imgpipe-test-image-alerts" })
    error_message = "A rule on a custom bus reports its metrics by EventBusName and RuleName."
  }

  assert {
    condition     = length(aws_sns_topic_subscription.image_alerts) == 0
    error_message = "No e-mail subscription without image_alert_email."
  }
}

run "uses_an_existing_bus_by_name" {
  variables {
    event_bus_name    = "default"
    image_alert_email = "moderators@example.com"
  }

  assert {
    condition     = length(aws_cloudwatch_event_bus.this) == 0 && data.aws_cloudwatch_event_bus.existing[0].name == "default"
    error_message = "event_bus_name should use the existing bus, not create one."
  }

  assert {
    condition     = aws_lambda_function.this.environment[0].variables.IMGPIPE_EVENT_BUS == "arn:aws:events:eu-west-1:123456789012:event-bus/default"
    error_message = "The functions should put on the existing bus, by ARN."
  }

  assert {
    condition     = [for s in data.aws_iam_policy_document.records.statement : s.resources if contains(s.actions, "events:PutEvents")] == [toset(["arn:aws:events:eu-west-1:123456789012:event-bus/default"])]
    error_message = "events:PutEvents should be granted on the existing bus only."
  }

  assert {
    condition     = aws_cloudwatch_event_rule.this.event_bus_name == "default"
    error_message = "The rule should be on the default bus."
  }

  assert {
    condition     = jsondecode(aws_cloudwatch_event_rule.this.event_pattern).detail.bucket == [module.source_bucket.s3_bucket_id]
    error_message = "On a bus other deployments in the account may share, the image alerts rule should take the events of this deployment's source bucket alone."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.this["image-alerts-failed"].dimensions == tomap({ RuleName = "imgpipe-test-image-alerts" })
    error_message = "A rule on the default bus reports its metrics by RuleName alone."
  }

  assert {
    condition     = aws_sns_topic_subscription.image_alerts[0].endpoint == "moderators@example.com" && aws_sns_topic_subscription.image_alerts[0].topic_arn == aws_sns_topic.image_alerts.arn
    error_message = "image_alert_email should be subscribed to the image alerts topic."
  }
}

run "sends_removals_to_the_alias_and_deletes_outputs_by_default" {
  assert {
    condition = alltrue([
      for target in aws_s3_bucket_notification.this.lambda_function :
      toset(target.events) == toset(["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]) && target.lambda_function_arn == aws_lambda_alias.this.arn
    ])
    error_message = "The source bucket should send creations and removals to the live alias."
  }

  assert {
    condition     = aws_lambda_function.this.environment[0].variables.IMGPIPE_DELETE_OUTPUTS == "true"
    error_message = "Deleting a source should delete its outputs by default."
  }
}

run "keeps_outputs_of_deleted_sources_when_told" {
  command = plan

  variables {
    delete_outputs = false
  }

  assert {
    condition     = aws_lambda_function.this.environment[0].variables.IMGPIPE_DELETE_OUTPUTS == "false"
    error_message = "delete_outputs = false should reach the function as IMGPIPE_DELETE_OUTPUTS=false."
  }
}

run "traces_both_functions_with_x_ray_by_default" {
  command = plan

  assert {
    condition     = aws_lambda_function.this.tracing_config[0].mode == "Active"
    error_message = "The function should trace actively by default."
  }

  assert {
    condition     = aws_lambda_function.this.environment[0].variables.POWERTOOLS_TRACE_ENABLED == "true"
    error_message = "Powertools Tracer should be on when X-Ray is."
  }
}

run "turns_tracing_off" {
  command = plan

  variables {
    tracing_enabled = false
  }

  assert {
    condition     = aws_lambda_function.this.tracing_config[0].mode == "PassThrough"
    error_message = "tracing_enabled = false should leave the function in PassThrough."
  }

  assert {
    condition     = aws_lambda_function.this.environment[0].variables.POWERTOOLS_TRACE_ENABLED == "false"
    error_message = "Powertools Tracer should be off when X-Ray is."
  }
}

run "names_the_metrics_service_after_the_deployment_by_default" {
  command = plan

  # dev, staging and prod in one account and region wrote their metrics under one service
  # dimension, imgpipe: each one's alarms and dashboard counted the others' objects.
  assert {
    condition = (
      aws_lambda_function.this.environment[0].variables.POWERTOOLS_SERVICE_NAME == "imgpipe-test"
      && aws_cloudwatch_metric_alarm.this["events-failed"].dimensions.service == "imgpipe-test"
      && alltrue([for m in aws_cloudwatch_metric_alarm.ratio["failure-ratio"].metric_query : m.metric[0].dimensions.service == "imgpipe-test" if length(m.metric) > 0])
    )
    error_message = "The metrics' service dimension should default to the deployment's name, in the function's environment and in the alarms."
  }
}

run "takes_a_metrics_service_name_given" {
  command = plan

  variables {
    service_name = "Shared.images"
  }

  assert {
    condition = (
      aws_lambda_function.this.environment[0].variables.POWERTOOLS_SERVICE_NAME == "Shared.images"
      && aws_cloudwatch_metric_alarm.this["events-failed"].dimensions.service == "Shared.images"
    )
    error_message = "A service_name given should be the metrics' service dimension."
  }
}

run "reads_the_pipeline_document_from_a_parameter" {
  command = plan

  variables {
    pipeline_config_parameter_name = "/imgpipe/test/pipeline"
  }

  assert {
    condition = (
      aws_lambda_function.this.environment[0].variables.IMGPIPE_CONFIG_PARAMETER == "/imgpipe/test/pipeline"
      && !contains(keys(aws_lambda_function.this.environment[0].variables), "IMGPIPE_CONFIG")
    )
    error_message = "The function should get the parameter's name and no inline document."
  }

  assert {
    condition     = [for s in data.aws_iam_policy_document.records.statement : s.resources if contains(s.actions, "ssm:GetParameter")] == [toset(["arn:aws:ssm:eu-west-1:123456789012:parameter/imgpipe/test/pipeline"])]
    error_message = "ssm:GetParameter should be granted on exactly that parameter."
  }

  # The release hooks start with the same environment, and so read the same parameter at init.
  assert {
    condition = (
      aws_lambda_function.release_check["BeforeAllowTraffic"].environment[0].variables.IMGPIPE_CONFIG_PARAMETER == "/imgpipe/test/pipeline"
      && [for s in data.aws_iam_policy_document.release_check.statement : s.resources if contains(s.actions, "ssm:GetParameter")] == [toset(["arn:aws:ssm:eu-west-1:123456789012:parameter/imgpipe/test/pipeline"])]
    )
    error_message = "The release hooks' role should read the pipeline parameter their init reads."
  }
}

run "names_a_parameter_without_a_path" {
  command = plan

  variables {
    pipeline_config_parameter_name = "imgpipe-test-pipeline"
  }

  assert {
    condition     = local.pipeline_config_parameter_arn == "arn:aws:ssm:eu-west-1:123456789012:parameter/imgpipe-test-pipeline"
    error_message = "A name without / is parameter/<name>."
  }
}

run "reads_no_parameter_by_default" {
  command = plan

  assert {
    condition     = alltrue([for s in concat(data.aws_iam_policy_document.records.statement, data.aws_iam_policy_document.outcomes.statement, data.aws_iam_policy_document.release_check.statement) : !contains(s.actions, "ssm:GetParameter")]) && !contains(keys(aws_lambda_function.this.environment[0].variables), "IMGPIPE_CONFIG_PARAMETER")
    error_message = "Without a parameter the roles should get no SSM access."
  }
}

run "refuses_both_an_inline_document_and_a_parameter" {
  command = plan

  variables {
    pipeline_config                = "{}"
    pipeline_config_parameter_name = "/imgpipe/test/pipeline"
  }

  expect_failures = [var.pipeline_config_parameter_name]
}

run "refuses_a_parameter_name_parameter_store_would_refuse" {
  command = plan

  variables {
    pipeline_config_parameter_name = "imgpipe/test/pipeline"
  }

  expect_failures = [var.pipeline_config_parameter_name]
}

run "refuses_a_reserved_parameter_name" {
  command = plan

  variables {
    pipeline_config_parameter_name = "/aws/service/pipeline"
  }

  expect_failures = [var.pipeline_config_parameter_name]
}

run "refuses_a_bus_arn_where_a_name_belongs" {
  command = plan

  variables {
    event_bus_name = "arn:aws:events:eu-west-1:123456789012:event-bus/default"
  }

  expect_failures = [var.event_bus_name]
}

run "refuses_the_new_managed_variables_in_environment_variables" {
  command = plan

  variables {
    environment_variables = { IMGPIPE_STATUS_TABLE = "elsewhere", POWERTOOLS_TRACE_ENABLED = "false" }
  }

  expect_failures = [var.environment_variables]
}

run "refuses_an_image_alert_address_that_is_not_one" {
  command = plan

  variables {
    image_alert_email = "moderators"
  }

  expect_failures = [var.image_alert_email]
}

# A document within pipeline_config's 3000 characters whose quotes, each written \" in the JSON
# Lambda measures, take a function's environment past its 4 KB: Lambda would refuse it at the apply.
run "refuses_an_environment_over_what_lambda_accepts" {
  command = plan

  variables {
    pipeline_config = jsonencode({
      formats  = ["avif", "webp", "jpeg"]
      variants = [for i in range(38) : { name = "v${i}", width = 100 * (i + 1), fit = "inside", formats = ["avif", "webp", "jpeg"] }]
    })
  }

  expect_failures = [aws_lambda_function.this]
}

# One variant fewer fits the function's environment, not the release hooks', which name the bucket
# of the check objects too.
run "refuses_a_release_hook_environment_over_what_lambda_accepts" {
  command = plan

  variables {
    pipeline_config = jsonencode({
      formats  = ["avif", "webp", "jpeg"]
      variants = [for i in range(37) : { name = "v${i}", width = 100 * (i + 1), fit = "inside", formats = ["avif", "webp", "jpeg"] }]
    })
  }

  expect_failures = [aws_lambda_function.release_check]
}

run "takes_a_document_whose_environment_fits" {
  command = plan

  variables {
    pipeline_config = jsonencode({
      formats  = ["avif", "webp", "jpeg"]
      variants = [for i in range(20) : { name = "v${i}", width = 100 * (i + 1), fit = "inside", formats = ["avif", "webp", "jpeg"] }]
    })
  }

  assert {
    condition     = aws_lambda_function.this.environment[0].variables.IMGPIPE_CONFIG == var.pipeline_config
    error_message = "A document whose environment fits in 4 KB should be passed as IMGPIPE_CONFIG."
  }
}
