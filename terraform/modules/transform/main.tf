data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.region
  partition  = data.aws_partition.current.partition

  function_name  = "${var.name}-transform"
  log_group_name = "/aws/lambda/${local.function_name}"
  log_group_arn  = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.log_group_name}"

  parameter_name = coalesce(var.signing_keys_parameter_name, "/${var.name}/transform/signing-keys")
  parameter_arn  = "arn:${local.partition}:ssm:${local.region}:${local.account_id}:parameter/${trimprefix(local.parameter_name, "/")}"

  # The parameters of src/handlers/transform-request.ts (TRANSFORM_PARAMS): the cache key and what
  # reaches the function. Anything else is dropped at the edge.
  query_parameters = ["w", "h", "fit", "fmt", "q", "dpr", "wm", "exp", "sig"]

  # With signing off the function reads neither exp nor sig (no signature checked, no expiry kept):
  # in the cache key, any value of them (?sig=1, ?sig=2, ...) was a cache entry of its own and an
  # origin request, which let anyone pass the cache at will. They are dropped at the edge, as
  # unknown parameters are, so URLs signed before signing was turned off still work.
  cache_key_parameters = var.signing == "off" ? [for name in local.query_parameters : name if !contains(["exp", "sig"], name)] : local.query_parameters

  # What the CloudFront Function (accept.js) checks a request against before it writes its query in
  # one spelling: the settings of the function's environment below (src/config/transform.ts).
  edge_config = {
    signing    = var.signing == "required"
    sizes      = var.sizes
    sizeStep   = var.size_step
    maxSize    = var.max_size
    qualityMin = var.quality_min
    qualityMax = var.quality_max
    formats    = var.formats
  }

  # The prefix of the pipeline's outputs and manifests (IMGPIPE_OUTPUT_PREFIX, which overrides the
  # document's; unset, the document's, which Terraform does not read: the whole bucket).
  output_prefix = lookup(var.function_environment, "IMGPIPE_OUTPUT_PREFIX", "")

  # Where the pipeline writes its quarantine records (src/core/layout.ts, quarantineKeys).
  quarantine_prefix = lookup(var.function_environment, "IMGPIPE_QUARANTINE_PREFIX", "quarantine/")

  # The pipeline document may live in Parameter Store (modules/imgpipe, pipeline_config_parameter_name).
  config_parameter     = lookup(var.function_environment, "IMGPIPE_CONFIG_PARAMETER", null)
  config_parameter_arn = local.config_parameter == null ? null : "arn:${local.partition}:ssm:${local.region}:${local.account_id}:parameter/${trimprefix(local.config_parameter, "/")}"

  # Large results redirect to the stored object through the distribution: by its custom domain, or
  # without one by a path on the host the request came to ("/": the function's environment cannot
  # name the distribution's own domain without a cycle), which the results behaviour routes to the
  # output bucket.
  cdn_url = var.domain_name == null ? "/" : "https://${var.domain_name}"

  # The processing function's environment (same document and output bucket) without what this
  # function does not use, nor IMGPIPE_MEMORY_MB, that function's memory budget (this one has
  # memory_size: its own budget follows from it), and its own settings (src/config/settings.ts,
  # TRANSFORM_SETTINGS): those come from this module's variables alone, which the CloudFront
  # Function checks requests against too (edge_config); an IMGPIPE_TRANSFORM_SIZES passed in
  # function_environment reached the function but not the edge, so the two disagreed.
  environment = merge(
    { for name, value in var.function_environment : name => value if !contains(["IMGPIPE_EVENT_BUS", "IMGPIPE_DELETE_OUTPUTS", "IMGPIPE_STATUS_TABLE", "IMGPIPE_MEMORY_MB"], name) && !startswith(name, "IMGPIPE_TRANSFORM_") },
    {
      POWERTOOLS_METRICS_FUNCTION_NAME           = local.function_name
      POWERTOOLS_TRACE_ENABLED                   = tostring(var.tracing_enabled)
      IMGPIPE_WORKERS                            = "1"
      IMGPIPE_TRANSFORM_SOURCE_BUCKET            = var.source_bucket_id
      IMGPIPE_TRANSFORM_SIZE_STEP                = tostring(var.size_step)
      IMGPIPE_TRANSFORM_MAX_SIZE                 = tostring(var.max_size)
      IMGPIPE_TRANSFORM_QUALITY_MIN              = tostring(var.quality_min)
      IMGPIPE_TRANSFORM_QUALITY_MAX              = tostring(var.quality_max)
      IMGPIPE_TRANSFORM_FORMATS                  = join(",", var.formats)
      IMGPIPE_TRANSFORM_SIGNING                  = var.signing
      IMGPIPE_TRANSFORM_KEYS_PARAMETER           = local.parameter_name
      IMGPIPE_TRANSFORM_PREFIX                   = var.results_prefix
      IMGPIPE_TRANSFORM_REDIRECT_EXPIRES_SECONDS = tostring(var.redirect_expires_seconds)
      IMGPIPE_TRANSFORM_MAX_AGE_SECONDS          = tostring(var.max_age_seconds)
      IMGPIPE_TRANSFORM_CHECKED_ONLY             = tostring(var.checked_sources_only)
    },
    length(var.sizes) == 0 ? {} : { IMGPIPE_TRANSFORM_SIZES = join(",", [for size in var.sizes : tostring(size)]) },
    { IMGPIPE_TRANSFORM_CDN_URL = local.cdn_url },
  )

  # Lambda refuses an environment over 4 KB, measured as its variables' JSON (../imgpipe/main.tf,
  # lambda_environment_limit): the processing function's, which this one adds to, may fit where
  # this one does not.
  environment_bytes = length(replace(replace(replace(jsonencode(local.environment), "\\u003c", "<"), "\\u003e", ">"), "\\u0026", "&"))
}

# The signing keys, one a line, the newest first (two while rotating), are a SecureString parameter
# (local.parameter_name) that Terraform does not manage: the operator creates it (README.md,
# Signing) and the function reads it by name. As a resource, every plan's refresh read it with
# decryption (the AWS provider's read of aws_ssm_parameter always asks GetParameter
# WithDecryption), so the plan roles, which pull requests assume, had to be able to read the keys;
# now they are denied them (terraform/bootstrap, plan roles). Until it is created every request is
# answered 500 (the function names the missing parameter). A deployment that made it before keeps
# it, and the keys in it: Terraform forgets it without deleting it.
removed {
  from = aws_ssm_parameter.this

  lifecycle {
    destroy = false
  }
}
