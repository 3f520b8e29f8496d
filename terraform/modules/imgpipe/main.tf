data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  # The metrics' `service` dimension: the deployment's name unless set, so that deployments in one
  # account and region (dev, staging and prod of deployment/) do not count each other's objects.
  service_name = coalesce(var.service_name, var.name)
  account_id   = data.aws_caller_identity.current.account_id
  region       = data.aws_region.current.region
  partition    = data.aws_partition.current.partition

  # The one place that maps Lambda's architecture names to OCI platforms. The build pushes one
  # single-platform image per architecture; the function runs the one matching var.architectures.
  platforms = {
    arm64  = "linux/arm64"
    x86_64 = "linux/amd64"
  }
  architecture   = var.architectures[0]
  image_platform = local.platforms[local.architecture]
  image_digest   = lookup(var.image_digests, local.architecture, null)
  image_uri      = local.image_digest == null ? null : "${module.ecr.ecr_repository_url}@${local.image_digest}"

  # Names known before anything exists, so policies can name ARNs without dependency cycles.
  log_group_name = "/aws/lambda/${var.name}"
  log_group_arn  = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.log_group_name}"
  # The log groups the key encrypts (the key policy names them): this function's, and those of the
  # deployment's other functions and state machines (the workflow module), all named <name>-*.
  log_group_arns = [
    local.log_group_arn,
    "${local.log_group_arn}-*",
    "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/vendedlogs/states/${var.name}-*",
  ]
  bucket_names = {
    source     = "${var.name}-source-${local.account_id}"
    output     = "${var.name}-output-${local.account_id}"
    quarantine = "${var.name}-quarantine-${local.account_id}"
  }

  # Status table, outcome events and the image alerts topic (status.tf, events.tf). Names and ARNs
  # are derived, not read from the resources, so the key policy can name the rule and the topic
  # that the key itself encrypts without a dependency cycle.
  status_table_name = "${var.name}-status"
  # The index that lists items by status and time (src/status/dynamodb.ts, STATUS_TABLE).
  status_index_name      = "byStatus"
  event_bus_name         = coalesce(var.event_bus_name, var.name)
  event_bus_arn          = var.event_bus_name == null ? aws_cloudwatch_event_bus.this[0].arn : data.aws_cloudwatch_event_bus.existing[0].arn
  image_alerts_name      = "${var.name}-image-alerts"
  image_alerts_topic_arn = "arn:${local.partition}:sns:${local.region}:${local.account_id}:${local.image_alerts_name}"
  # The source-deleted rule (s3.tf, on the default bus) and its dead-letter queue (sqs.tf).
  source_deleted_rule_name = "${var.name}-source-deleted"
  source_deleted_dlq_name  = "${var.name}-source-deleted-dlq"
  # What the functions put (src/bus/types.ts, EVENT_SOURCE and DETAIL_TYPES) and what of it
  # reaches a person through the image alerts topic.
  event_source             = "imgpipe"
  image_alert_detail_types = ["Image Quarantined", "Image Failed"]
  # The parameter holding the pipeline document, when there is one: /a/b is parameter/a/b, a is
  # parameter/a.
  pipeline_config_parameter_arn = var.pipeline_config_parameter_name == null ? null : "arn:${local.partition}:ssm:${local.region}:${local.account_id}:parameter/${trimprefix(var.pipeline_config_parameter_name, "/")}"

  environment = merge(var.environment_variables, {
    IMGPIPE_OUTPUT_BUCKET = module.output_bucket.s3_bucket_id
    # A record of any other bucket fails naming it, instead of ending in AccessDenied.
    IMGPIPE_SOURCE_BUCKETS    = module.source_bucket.s3_bucket_id
    IMGPIPE_OUTPUT_PREFIX     = var.output_prefix
    IMGPIPE_QUARANTINE_BUCKET = module.quarantine_bucket.s3_bucket_id
    # The quarantine bucket holds nothing else, so its keys need no prefix.
    IMGPIPE_QUARANTINE_PREFIX    = ""
    IMGPIPE_MAX_PIXELS           = tostring(var.max_input_pixels)
    POWERTOOLS_SERVICE_NAME      = local.service_name
    POWERTOOLS_METRICS_NAMESPACE = var.metrics_namespace
    POWERTOOLS_LOG_LEVEL         = var.log_level
    # Gives Powertools' ColdStart metric its function_name dimension (the handler passes no context).
    POWERTOOLS_METRICS_FUNCTION_NAME = var.name
    POWERTOOLS_TRACE_ENABLED         = tostring(var.tracing_enabled)
    # The ARN, not the name: it names the bus unambiguously, the default bus included.
    IMGPIPE_EVENT_BUS      = local.event_bus_arn
    IMGPIPE_DELETE_OUTPUTS = tostring(var.delete_outputs)
    }, var.pipeline_config == null ? {} : {
    IMGPIPE_CONFIG = var.pipeline_config
    }, var.pipeline_config_parameter_name == null ? {} : {
    IMGPIPE_CONFIG_PARAMETER = var.pipeline_config_parameter_name
    }, var.create_status_table ? {
    IMGPIPE_STATUS_TABLE = aws_dynamodb_table.this[0].name
  } : {})

  # Lambda refuses an environment over 4 KB, measured as its variables' JSON ("String measured:
  # {...}" in its error): every quote and backslash of the pipeline document counts twice. Terraform's
  # jsonencode writes <, > and & as \u003c, \u003e and \u0026, where Lambda's JSON has the
  # characters: they are put back before counting. Each function of the deployment (here,
  # modules/api, modules/transform, modules/workflow) holds its own environment to it.
  lambda_environment_limit = 4096
  # The hooks have their own memory (512 MB): IMGPIPE_MEMORY_MB (environment_variables) is the
  # function's memory budget, and over a hook's memory it stopped the hook's init, so every release
  # failed its BeforeAllowTraffic check and was rolled back.
  release_check_environment = merge({ for name, value in local.environment : name => value if name != "IMGPIPE_MEMORY_MB" }, {
    IMGPIPE_RELEASE_CHECK_BUCKET = module.source_bucket.s3_bucket_id
  })
  # Measured on the bucket's name, known at the plan.
  environment_bytes = {
    for name, variables in { function = local.environment, release_check = merge(local.release_check_environment, { IMGPIPE_RELEASE_CHECK_BUCKET = local.bucket_names.source }) } :
    name => length(replace(replace(replace(jsonencode(variables), "\\u003c", "<"), "\\u003e", ">"), "\\u0026", "&"))
  }
  environment_too_large = "bytes as Lambda measures it (its variables as JSON, where each quote of pipeline_config counts twice), more than the ${local.lambda_environment_limit} Lambda accepts: IMGPIPE_CONFIG takes ${var.pipeline_config == null ? 0 : length(jsonencode(var.pipeline_config))} of them. Put the pipeline document in Parameter Store (pipeline_config_parameter_name) instead."

  # X-Ray: Active samples every function's requests; PassThrough traces only requests that arrive
  # with a sampled trace header, which S3 events never carry.
  tracing_mode = var.tracing_enabled ? "Active" : "PassThrough"

  # The version this apply published: the target of the next CodeDeploy deployment (codedeploy.tf),
  # whose canary alarms watch it alone.
  published_version = aws_lambda_function.this.version
}
