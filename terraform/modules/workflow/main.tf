# The workflow mode's resources and bulk reprocessing (README.md): the state machines of
# definitions/, the Lambda functions they run, the malware scanner and its signature database, the
# rule that starts a state machine per upload, and their alarms. The buckets, key, status table,
# bus and image alerts topic are the imgpipe module's, passed in.

data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.region
  partition  = data.aws_partition.current.partition
  arn        = "arn:${local.partition}"

  # The functions of the function image, one per state machine task, selected by overriding the
  # image command (src/handlers/README.md). `upload`: only in the workflow mode. `memory` null: the
  # tuned memory (memory_size), for the tasks that decode images. `timeout`: at least 10 s (Lambda's
  # init limit) under its state's TimeoutSeconds, so that the function's timeout, which stops it, and
  # not the state's, which leaves it running, ends a task too long: a Quarantine that outlived its
  # state wrote `quarantined` after RecordFailure had recorded and announced `failed`.
  image_tasks = {
    inspect             = { command = "index.workflowInspect", upload = true, memory = 512, timeout = 50, description = "inspects an upload's header and limits, no decode" }
    moderate            = { command = "index.workflowModerate", upload = true, memory = null, timeout = 50, description = "Rekognition moderation of a JPEG rendition" }
    process             = { command = "index.workflowProcess", upload = true, memory = null, timeout = var.timeout, description = "the pipeline: variants, manifest, status, Image Processed" }
    quarantine          = { command = "index.workflowQuarantine", upload = true, memory = 512, timeout = 50, description = "quarantines a rejected upload with its reason" }
    fail                = { command = "index.workflowFail", upload = true, memory = 256, timeout = 20, description = "records a failure no retry fixed" }
    reprocess-plan      = { command = "index.reprocessPlan", upload = false, memory = 256, timeout = 20, description = "checks a bulk reprocessing request" }
    reprocess-batch     = { command = "index.reprocessBatch", upload = false, memory = null, timeout = 270, description = "one batch of a bulk reprocessing" }
    reprocess-summarize = { command = "index.reprocessSummarize", upload = false, memory = 512, timeout = 290, description = "adds up a bulk reprocessing's results" }
  }
  functions = { for key, task in local.image_tasks : key => task if var.upload_workflow_enabled || !task.upload }

  # The scanner image's functions; only when the per-upload workflow scans for malware.
  scanner_tasks = var.upload_workflow_enabled && var.malware_scan_enabled ? {
    scan            = { command = "scanner.handler", memory = var.scanner_memory_size, timeout = 110, description = "scans an upload with ClamAV" }
    update-database = { command = "scanner.update", memory = var.scanner_update_memory_size, timeout = 900, description = "brings the ClamAV database in S3 up to date (freshclam)" }
  } : {}

  function_names = merge(
    { for key in keys(local.functions) : key => "${var.name}-${key}" },
    { for key in keys(local.scanner_tasks) : key => "${var.name}-${key}" },
  )
  log_group_arns = { for key, name in local.function_names : key => "${local.arn}:logs:${local.region}:${local.account_id}:log-group:/aws/lambda/${name}" }
  function_arns  = { for key, name in local.function_names : key => "${local.arn}:lambda:${local.region}:${local.account_id}:function:${name}" }
  # What the state machines and the database update's schedule invoke: the `live` alias of each
  # task function, of the imgpipe image and of the scanner's (functions.tf), which CodeDeploy moves
  # (codedeploy.tf) once it has released the image on the imgpipe function.
  invoke_arns = { for key, arn in local.function_arns : key => "${arn}:${local.task_alias}" }
  task_alias  = "live"

  # The state machines, named and with ARNs known before they exist (their roles name them).
  state_machines = merge(
    var.upload_workflow_enabled ? { upload = { type = "EXPRESS" } } : {},
    { reprocess = { type = "STANDARD" } },
  )
  state_machine_names = { for key in keys(local.state_machines) : key => "${var.name}-${key}" }
  state_machine_arns  = { for key, name in local.state_machine_names : key => "${local.arn}:states:${local.region}:${local.account_id}:stateMachine:${name}" }

  # One bucket for what the workflows keep: the ClamAV database (signatures_prefix) and bulk
  # reprocessing's results (results_prefix).
  bucket_name       = "${var.name}-workflow-${local.account_id}"
  signatures_prefix = "clamav/"
  results_prefix    = "reprocess/"

  scanner_image_digest = lookup(var.scanner_image_digests, var.architectures[0], null)
  scanner_image_uri    = local.scanner_image_digest == null ? null : "${module.scanner_ecr.ecr_repository_url}@${local.scanner_image_digest}"

  # The pipeline document may live in Parameter Store (modules/imgpipe, pipeline_config_parameter_name):
  # every task of the function image reads it at its init, whatever the task does.
  config_parameter     = lookup(var.environment, "IMGPIPE_CONFIG_PARAMETER", null)
  config_parameter_arn = local.config_parameter == null ? null : "${local.arn}:ssm:${local.region}:${local.account_id}:parameter/${trimprefix(local.config_parameter, "/")}"

  task_environment = merge(var.environment, {
    IMGPIPE_MODERATION_MIN_CONFIDENCE = tostring(var.moderation_min_confidence)
    IMGPIPE_MODERATION_MAX_TILES      = tostring(var.moderation_max_tiles)
    }, length(var.moderation_categories) == 0 ? {} : {
    IMGPIPE_MODERATION_CATEGORIES = join(",", var.moderation_categories)
  })
  # Each task function's: the reprocessing batch, and Inspect for a reprocessing's own events, skip
  # the keys no upload would have reached the pipeline for: those outside the upload filters
  # (src/handlers/reprocess.ts, KEY_FILTERS_ENV).
  # IMGPIPE_MEMORY_MB (an override of the memory budget, modules/imgpipe environment_variables) is
  # the tuned memory's: a task of its own memory does without it, or its init is refused when it is
  # over that memory (1024 set for the pipeline stopped Inspect, 512 MB, and RecordFailure, 256).
  image_environments = { for key in keys(local.functions) : key => merge({ for name, value in local.task_environment : name => value if name != "IMGPIPE_MEMORY_MB" || local.functions[key].memory == null }, {
    POWERTOOLS_METRICS_FUNCTION_NAME = local.function_names[key]
    }, contains(["reprocess-batch", "inspect"], key) ? {
    IMGPIPE_REPROCESS_KEY_FILTERS = jsonencode([for filter in values(var.source_notification_filters) : { prefix = filter.prefix, suffix = filter.suffix }])
    } : {}, key == "reprocess-plan" ? {
    # The cap on a request's concurrency (src/handlers/reprocess.ts, MAX_CONCURRENCY_ENV).
    IMGPIPE_REPROCESS_MAX_CONCURRENCY = tostring(var.reprocess_max_concurrency)
  } : {}) }
  # Lambda refuses an environment over 4 KB, measured as its variables' JSON (../imgpipe/main.tf,
  # lambda_environment_limit): the imgpipe function's, which the tasks' add to, may fit where
  # theirs do not.
  environment_bytes = { for key, variables in local.image_environments : key => length(replace(replace(replace(jsonencode(variables), "\\u003c", "<"), "\\u003e", ">"), "\\u0026", "&")) }

  # The scanner runs no pipeline: its own settings, and of the pipeline's the logging and metrics
  # names and IMGPIPE_MAX_BYTES, a fallback only: the Scan state passes the maxBytes the Inspect
  # task resolved (the pipeline document's limits.maxBytes, from IMGPIPE_CONFIG or its parameter).
  scanner_environment = merge(
    { for key, value in var.environment : key => value if contains(["IMGPIPE_MAX_BYTES", "POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL", "POWERTOOLS_TRACE_ENABLED"], key) },
    {
      IMGPIPE_SIGNATURES_BUCKET = module.bucket.s3_bucket_id
      IMGPIPE_SIGNATURES_PREFIX = local.signatures_prefix
    },
  )

  # The largest object the scan function can scan (src/scan/capacity.ts, which computes it from what
  # the function sees at each scan): its memory less ClamAV's figure for the engine with the official
  # database (1229 MiB) and 200 MiB for Node, as the object is read whole; its /tmp less the
  # database's copy (about 350 MiB) and 64 MiB for clamd's other files, halved: clamd writes the
  # stream there, and up to as much again of what it unpacks from it (MaxFileSize and MaxScanSize
  # are held to half of that room, src/scan/clamd.ts unpackLimitsMiB); and clamd 1.4's largest file. The limits of the pipeline the plan knows are checked
  # against it (functions.tf): the scanner would quarantine every object over it as too-large.
  scanner_capacity = [
    { bytes = (var.scanner_memory_size - 1229 - 200) * 1048576, limit = "scanner_memory_size ${var.scanner_memory_size} MB less about 1229 MB for clamd's engine with the official database (ClamAV's figure) and 200 MB for Node, which reads the object whole" },
    { bytes = floor((var.scanner_ephemeral_storage_size - 350 - 64) / 2) * 1048576, limit = "scanner_ephemeral_storage_size ${var.scanner_ephemeral_storage_size} MB less about 350 MB for the database's copy and 64 MB for clamd's other temporary files, halved: clamd writes the object there before scanning it, and up to as much again of what it unpacks from it" },
    { bytes = 2147483645, limit = "clamd 1.4, which scans no file over 2147483645 bytes" },
  ]
  scanner_capacity_least = [for c in local.scanner_capacity : c if c.bytes == min([for d in local.scanner_capacity : d.bytes]...)][0]
  # maxBytes as the plan knows it: IMGPIPE_MAX_BYTES when set, which overrides the pipeline
  # document's (src/config/index.ts environmentOverrides), otherwise limits.maxBytes of a document
  # given inline (IMGPIPE_CONFIG); one kept in Parameter Store is checked by the scanner alone.
  # IMGPIPE_MAX_BYTES is read as the function reads it (src/config/env.ts, envInteger): digits,
  # perhaps after a +, grouped by single underscores (2_000_000_000).
  scanner_max_bytes_env = trimspace(lookup(var.environment, "IMGPIPE_MAX_BYTES", ""))
  scanner_max_bytes_known = { for name, value in {
    IMGPIPE_MAX_BYTES                   = can(regex("^[+]?[0-9]+(_[0-9]+)*$", local.scanner_max_bytes_env)) ? tonumber(replace(trimprefix(local.scanner_max_bytes_env, "+"), "_", "")) : null
    "limits.maxBytes of IMGPIPE_CONFIG" = local.scanner_max_bytes_env != "" ? null : try(tonumber(jsondecode(var.environment["IMGPIPE_CONFIG"]).limits.maxBytes), null)
  } : name => value if value != null }
  scanner_max_bytes_over = { for name, value in local.scanner_max_bytes_known : name => value if value > local.scanner_capacity_least.bytes }

  tracing_mode  = var.tracing_enabled ? "Active" : "PassThrough"
  alarm_actions = var.alarm_topic_arn == null ? [] : [var.alarm_topic_arn]
}
