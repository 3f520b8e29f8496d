# One deployment of imgpipe, imgpipe-<environment>. Every environment applies this same root with
# its own values and state (../envs/<environment>: settings, tuning and backend files); ../README.md
# shows the commands.

provider "aws" {
  region = var.region
  # A plan against the wrong account's credentials fails instead of creating a second deployment.
  allowed_account_ids = [var.aws_account_id]

  default_tags {
    tags = {
      Project     = "imgpipe"
      Environment = var.environment
      ManagedBy   = "terraform"
    }
  }
}

# CloudFront publishes its metrics in us-east-1: the transformation distribution's alarms live there.
provider "aws" {
  alias               = "us_east_1"
  region              = "us-east-1"
  allowed_account_ids = [var.aws_account_id]

  default_tags {
    tags = {
      Project     = "imgpipe"
      Environment = var.environment
      ManagedBy   = "terraform"
    }
  }
}

locals {
  name = "imgpipe-${var.environment}"

  # Where the transformation function stores results: the processing function deletes a deleted
  # source's results there, and they expire after a year (a backstop for a missed deletion).
  transform_results_prefix = "transforms/"

  # The role that applies this root in the release workflow, named administrator of the keys: the
  # bootstrap's deploy role of this environment (one per environment, ../bootstrap/iam.tf). KMS
  # refuses a key policy naming a role that does not exist, so the name must be that role's.
  deploy_role_name           = var.deploy_role_name == null ? "imgpipe-github-deploy-${var.environment}" : var.deploy_role_name
  kms_key_administrator_arns = local.deploy_role_name == "" ? [] : ["arn:aws:iam::${var.aws_account_id}:role/${local.deploy_role_name}"]

  # The boundary every role of this deployment carries: the bootstrap's of this environment
  # (../bootstrap/iam.tf, function_boundary), the one the environment's deploy role must give.
  permissions_boundary_name = var.permissions_boundary_policy_name == null ? "imgpipe-${var.environment}-function-boundary" : var.permissions_boundary_policy_name
  role_permissions_boundary = local.permissions_boundary_name == "" ? null : "arn:aws:iam::${var.aws_account_id}:policy/${local.permissions_boundary_name}"
}

module "imgpipe" {
  source = "../modules/imgpipe"

  name          = local.name
  image_digests = var.image_digests
  architectures = var.architectures

  # From ../envs/<environment>/tuning.tfvars.json, written by the memory sweep (bench.yml).
  memory_size = var.lambda_memory_size
  timeout     = var.lambda_timeout
  # Only in the direct mode, where this function processes the uploads: in the workflow mode it
  # receives none, and the workflow module's Process function takes the provisioned concurrency
  # (workflow.tf).
  provisioned_concurrent_executions = var.mode == "workflow" ? 0 : var.lambda_provisioned_concurrency
  max_input_pixels                  = var.max_input_pixels

  reserved_concurrent_executions = var.reserved_concurrent_executions
  pipeline_config                = var.pipeline_config
  pipeline_config_parameter_name = var.pipeline_config_parameter_name
  delete_outputs                 = var.delete_outputs
  tracing_enabled                = var.tracing_enabled
  log_level                      = var.log_level
  log_retention_in_days          = var.log_retention_in_days
  role_permissions_boundary      = local.role_permissions_boundary
  kms_key_administrator_arns     = local.kms_key_administrator_arns

  # Releases go through CodeDeploy (modules/imgpipe/codedeploy.tf, deploy.yml).
  release_deployment_config = var.release_deployment_config

  # Security options, off unless the environment's settings turn them on.
  vpc                = var.vpc
  cloudtrail_enabled = var.cloudtrail_enabled

  # The deployment mode (workflow.tf): in the workflow mode the source bucket's events go to
  # EventBridge, whose rule starts the per-upload state machine, instead of invoking the function.
  source_events_to_eventbridge = var.mode == "workflow"
  # The same filters go to the workflow module (workflow.tf): its upload rule, Inspect and bulk
  # reprocessing hold to the keys S3 would invoke the function for.
  source_notification_filters = var.source_notification_filters

  # imgpipe-<environment>-status, the bus (imgpipe-<environment> or an existing one) and the
  # imgpipe-<environment>-image-alerts topic.
  create_status_table              = var.create_status_table
  status_table_deletion_protection = var.status_table_deletion_protection
  event_bus_name                   = var.event_bus_name
  image_alert_email                = var.image_alert_email

  ecr_pull_account_ids     = var.ecr_pull_account_ids
  s3_force_destroy         = var.force_destroy
  ecr_force_delete         = var.force_destroy
  alarm_email              = var.alarm_email
  budget_monthly_limit_usd = var.budget_monthly_limit_usd
  # This environment's costs alone: every resource carries the provider's default Environment tag,
  # activated as a cost-allocation tag in Billing (terraform/README.md, "Alarms, dashboard and
  # budget"). Without the filter each environment's budget would count the whole account.
  budget_cost_filter_tag = { key = "Environment", value = var.environment }

  # The transformation distribution, and no other, reads (and decrypts) stored results.
  output_cloudfront_distribution_arn = var.transform.enabled ? module.transform[0].cloudfront_distribution_arn : null
  transform_results_prefix           = var.transform.enabled ? local.transform_results_prefix : null
  environment_variables              = var.transform.enabled ? { IMGPIPE_TRANSFORM_PREFIX = local.transform_results_prefix } : {}
}

# The HTTP API (index.api of the same image), its sign-in and the web page, when api.enabled.
module "api" {
  source = "../modules/api"
  count  = var.api.enabled ? 1 : 0

  name          = local.name
  image_uri     = module.imgpipe.lambda_function_image_uri
  architectures = var.architectures

  function_environment = module.imgpipe.lambda_environment
  source_bucket_id     = module.imgpipe.source_bucket_id
  source_bucket_arn    = module.imgpipe.source_bucket_arn
  output_bucket_arn    = module.imgpipe.output_bucket_arn
  status_table_arn     = module.imgpipe.status_table_arn
  kms_key_arn          = module.imgpipe.kms_key_arn
  alarm_topic_arn      = module.imgpipe.sns_topic_arn

  role_permissions_boundary  = local.role_permissions_boundary
  kms_key_administrator_arns = local.kms_key_administrator_arns
  log_retention_in_days      = var.log_retention_in_days
  tracing_enabled            = var.tracing_enabled
  force_destroy              = var.force_destroy

  # Another issuer, or an explicitly open API, replaces the user pool.
  create_cognito_user_pool = var.api.create_cognito_user_pool && var.api.jwt_issuer == null && !var.api.allow_anonymous
  jwt_issuer               = var.api.jwt_issuer
  jwt_audience             = var.api.jwt_audience
  allow_anonymous          = var.api.allow_anonymous
  cors_allowed_origins     = var.api.cors_allowed_origins
  cors_allow_credentials   = var.api.cors_allow_credentials
  throttling_rate_limit    = var.api.throttling_rate_limit
  throttling_burst_limit   = var.api.throttling_burst_limit
  route_throttling         = var.api.route_throttling
  upload_prefix            = var.api.upload_prefix
  cdn_url                  = var.api.cdn_url
  domain_name              = var.api.domain_name
  certificate_arn          = var.api.certificate_arn
  web_dir                  = var.api.web_dir
  web_auth                 = var.api.web_auth
  # The workflow mode records a failure after the state machine's retries: final for the page.
  failed_is_final = var.mode == "workflow"
}

# On-demand transformations (index.transform of the same image) behind CloudFront, when
# transform.enabled.
module "transform" {
  source = "../modules/transform"
  count  = var.transform.enabled ? 1 : 0

  providers = {
    aws           = aws
    aws.us_east_1 = aws.us_east_1
  }

  name          = local.name
  image_uri     = module.imgpipe.lambda_function_image_uri
  architectures = var.architectures

  function_environment               = module.imgpipe.lambda_environment
  source_bucket_id                   = module.imgpipe.source_bucket_id
  source_bucket_arn                  = module.imgpipe.source_bucket_arn
  output_bucket_arn                  = module.imgpipe.output_bucket_arn
  output_bucket_regional_domain_name = module.imgpipe.output_bucket_regional_domain_name
  quarantine_bucket_arn              = module.imgpipe.quarantine_bucket_arn
  checked_sources_only               = var.mode == "workflow"
  kms_key_arn                        = module.imgpipe.kms_key_arn
  alarm_topic_arn                    = module.imgpipe.sns_topic_arn
  alarm_email                        = var.alarm_email
  processing_role_name               = module.imgpipe.lambda_role_name
  results_prefix                     = local.transform_results_prefix
  kms_key_administrator_arns         = local.kms_key_administrator_arns

  role_permissions_boundary = local.role_permissions_boundary
  log_retention_in_days     = var.log_retention_in_days
  tracing_enabled           = var.tracing_enabled

  memory_size          = var.transform.memory_size
  reserved_concurrency = var.transform.reserved_concurrency
  sizes                = var.transform.sizes
  size_step            = var.transform.size_step
  max_size             = var.transform.max_size
  quality_min          = var.transform.quality_min
  quality_max          = var.transform.quality_max
  formats              = var.transform.formats
  signing              = var.transform.signing
  domain_name          = var.transform.domain_name
  certificate_arn      = var.transform.certificate_arn
  price_class          = var.transform.price_class
  cdn_max_ttl_seconds  = var.transform.cdn_max_ttl_seconds
}
