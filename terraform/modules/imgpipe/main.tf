data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.region
  partition  = data.aws_partition.current.partition

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
  # The optional backfill function (index.reprocess), named <name>-reprocess like everything else
  # the bootstrap's deploy role may manage.
  reprocess_function_name  = "${var.name}-reprocess"
  reprocess_log_group_name = "/aws/lambda/${local.reprocess_function_name}"
  reprocess_log_group_arn  = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.reprocess_log_group_name}"
  # The log groups the key encrypts (the key policy names them).
  log_group_arns = concat([local.log_group_arn], var.create_reprocess_function ? [local.reprocess_log_group_arn] : [])
  bucket_names = {
    source     = "${var.name}-source-${local.account_id}"
    output     = "${var.name}-output-${local.account_id}"
    quarantine = "${var.name}-quarantine-${local.account_id}"
  }

  environment = merge(var.environment_variables, {
    IMGPIPE_OUTPUT_BUCKET     = module.output_bucket.s3_bucket_id
    IMGPIPE_OUTPUT_PREFIX     = var.output_prefix
    IMGPIPE_QUARANTINE_BUCKET = module.quarantine_bucket.s3_bucket_id
    # The quarantine bucket holds nothing else, so its keys need no prefix.
    IMGPIPE_QUARANTINE_PREFIX    = ""
    IMGPIPE_MAX_PIXELS           = tostring(var.max_input_pixels)
    POWERTOOLS_SERVICE_NAME      = var.service_name
    POWERTOOLS_METRICS_NAMESPACE = var.metrics_namespace
    POWERTOOLS_LOG_LEVEL         = var.log_level
    # Gives Powertools' ColdStart metric its function_name dimension (the handler passes no context).
    POWERTOOLS_METRICS_FUNCTION_NAME = var.name
    }, var.pipeline_config == null ? {} : {
    IMGPIPE_CONFIG = var.pipeline_config
  })

  # The backfill function runs the same pipeline on the same buckets, so it gets the same
  # environment; only the ColdStart metric's function_name dimension names it, not the main function.
  reprocess_environment = merge(local.environment, {
    POWERTOOLS_METRICS_FUNCTION_NAME = local.reprocess_function_name
  })

  # Blue/green: the alias routes to live_version (default: the version this apply publishes) and,
  # during a canary, sends canary_weight of the traffic to the newly published version.
  published_version = aws_lambda_function.this.version
  live_version      = coalesce(var.live_version, local.published_version)
  canary            = var.canary_weight > 0
}
