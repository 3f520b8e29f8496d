################################################################################
# The deployment these transformations serve (outputs of modules/imgpipe)
################################################################################

variable "name" {
  description = "Name of the deployment (e.g. imgpipe-prod). The function, role, log group, distribution, policies and alarms are named `<name>-transform…`. 3-28 lowercase letters, digits and hyphens, starting with a letter."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,26}[a-z0-9]$", var.name))
    error_message = "name must be 3-28 lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen."
  }
}

variable "tags" {
  description = "Tags added to every resource that takes them, on top of the provider's default_tags. At most 40."
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    condition     = length(var.tags) <= 40
    error_message = "tags may hold at most 40 keys (AWS allows 50 per resource; default_tags need the rest)."
  }
}

variable "image_uri" {
  description = "The image the processing function runs, by digest (`<repository>@sha256:…`; modules/imgpipe output lambda_function_image_uri). This function runs it with the command `index.transform`."
  type        = string

  validation {
    condition     = can(regex("^[^@\\s]+@sha256:[0-9a-f]{64}$", var.image_uri))
    error_message = "image_uri must name the image by digest: <repository>@sha256:<64 hex digits>."
  }
}

variable "architectures" {
  description = "Lambda architecture: [\"arm64\"] or [\"x86_64\"], the one image_uri was built for."
  type        = list(string)
  default     = ["arm64"]
  nullable    = false

  validation {
    condition     = length(var.architectures) == 1 && contains(["arm64", "x86_64"], var.architectures[0])
    error_message = "architectures must be [\"arm64\"] or [\"x86_64\"]."
  }
}

variable "function_environment" {
  description = "The processing function's environment (modules/imgpipe output lambda_environment): this function reads the same pipeline document and output bucket."
  type        = map(string)
  nullable    = false

  validation {
    condition     = contains(keys(var.function_environment), "IMGPIPE_OUTPUT_BUCKET")
    error_message = "function_environment must hold IMGPIPE_OUTPUT_BUCKET: results are stored there."
  }
}

variable "source_bucket_id" {
  description = "The source bucket (modules/imgpipe output source_bucket_id): /t/<key> reads <key> there."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.source_bucket_id))
    error_message = "source_bucket_id must be an S3 bucket name."
  }
}

variable "source_bucket_arn" {
  description = "ARN of the source bucket (modules/imgpipe output source_bucket_arn)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9.-]{3,63}$", var.source_bucket_arn))
    error_message = "source_bucket_arn must be an S3 bucket ARN (arn:aws:s3:::<bucket>)."
  }
}

variable "output_bucket_arn" {
  description = "ARN of the output bucket (modules/imgpipe output output_bucket_arn): results are stored under results_prefix there."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9.-]{3,63}$", var.output_bucket_arn))
    error_message = "output_bucket_arn must be an S3 bucket ARN (arn:aws:s3:::<bucket>)."
  }
}

variable "quarantine_bucket_arn" {
  description = "ARN of the quarantine bucket (modules/imgpipe output quarantine_bucket_arn): the function reads the reason records there, and refuses (403) a source whose current version the malware scan or moderation quarantined."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9.-]{3,63}$", var.quarantine_bucket_arn))
    error_message = "quarantine_bucket_arn must be an S3 bucket ARN (arn:aws:s3:::<bucket>)."
  }
}

variable "output_bucket_regional_domain_name" {
  description = "The output bucket's regional domain name (modules/imgpipe output output_bucket_regional_domain_name): the distribution's second origin."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9.-]+\\.s3\\.[a-z0-9.-]+\\.amazonaws\\.com$", var.output_bucket_regional_domain_name))
    error_message = "output_bucket_regional_domain_name must look like <bucket>.s3.<region>.amazonaws.com."
  }
}

variable "kms_key_arn" {
  description = "The deployment's KMS key (modules/imgpipe output kms_key_arn), which encrypts sources and results."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[0-9a-f-]+$", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "alarm_topic_arn" {
  description = "SNS topic for the function's alarm (modules/imgpipe output sns_topic_arn); null: no actions."
  type        = string
  default     = null

  validation {
    condition     = var.alarm_topic_arn == null || can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:.+$", var.alarm_topic_arn))
    error_message = "alarm_topic_arn must be null or an SNS topic ARN."
  }
}

################################################################################
# The function
################################################################################

variable "memory_size" {
  description = "Memory of the function in MB (512-10240). Also bounds each source's decoded size (the memory budget); below 512 the encoder's 350 MiB baseline leaves no room for an image."
  type        = number
  default     = 2048

  validation {
    condition     = var.memory_size >= 512 && var.memory_size <= 10240 && floor(var.memory_size) == var.memory_size
    error_message = "memory_size must be an integer from 512 to 10240: below 512 the encoder's 350 MiB baseline leaves no room for an image."
  }
}

variable "timeout" {
  description = "Function timeout in seconds (3-60): CloudFront waits at most 60 s for an origin."
  type        = number
  default     = 30

  validation {
    condition     = var.timeout >= 3 && var.timeout <= 60 && floor(var.timeout) == var.timeout
    error_message = "timeout must be an integer from 3 to 60."
  }
}

variable "reserved_concurrency" {
  description = "Reserved concurrency, between -1 (unreserved) and 1000: caps what a flood of cache misses can cost; beyond it CloudFront gets 429/503."
  type        = number
  default     = 20

  validation {
    condition     = var.reserved_concurrency >= -1 && var.reserved_concurrency <= 1000 && floor(var.reserved_concurrency) == var.reserved_concurrency
    error_message = "reserved_concurrency must be an integer from -1 to 1000."
  }
}

variable "log_retention_in_days" {
  description = "Days CloudWatch keeps the function's log group: one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_in_days)
    error_message = "log_retention_in_days must be a retention CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, …, 3653)."
  }
}

variable "tracing_enabled" {
  description = "X-Ray active tracing of the function."
  type        = bool
  default     = false
  nullable    = false
}

variable "role_permissions_boundary" {
  description = "ARN of a permissions boundary for the function's role, or null."
  type        = string
  default     = null

  validation {
    condition     = var.role_permissions_boundary == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:policy/.+$", var.role_permissions_boundary))
    error_message = "role_permissions_boundary must be null or an IAM policy ARN (arn:aws:iam::<account>:policy/<name>)."
  }
}

################################################################################
# Cost guards and signing (src/config/settings.ts, TRANSFORM_SETTINGS)
################################################################################

variable "sizes" {
  description = "Allowed widths and heights in CSS pixels (each from 1 to max_size); empty: multiples of size_step. IMGPIPE_TRANSFORM_SIZES."
  type        = list(number)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for size in var.sizes : size >= 1 && size <= 16384 && floor(size) == size])
    error_message = "sizes must be integers from 1 to 16384."
  }

  validation {
    condition     = alltrue([for size in var.sizes : size <= var.max_size])
    error_message = "sizes must be at most max_size (${var.max_size}): the function refuses to start with a larger one (IMGPIPE_TRANSFORM_SIZES)."
  }
}

variable "size_step" {
  description = "Without sizes, widths and heights must be multiples of this (1-1000). IMGPIPE_TRANSFORM_SIZE_STEP."
  type        = number
  default     = 10

  validation {
    condition     = var.size_step >= 1 && var.size_step <= 1000 && floor(var.size_step) == var.size_step
    error_message = "size_step must be an integer from 1 to 1000."
  }
}

variable "max_size" {
  description = "Largest output width or height in device pixels (16-16384). IMGPIPE_TRANSFORM_MAX_SIZE."
  type        = number
  default     = 4000

  validation {
    condition     = var.max_size >= 16 && var.max_size <= 16384 && floor(var.max_size) == var.max_size
    error_message = "max_size must be an integer from 16 to 16384."
  }
}

variable "quality_min" {
  description = "Lowest quality a request may ask for (1-100). IMGPIPE_TRANSFORM_QUALITY_MIN."
  type        = number
  default     = 30

  validation {
    condition     = var.quality_min >= 1 && var.quality_min <= 100 && floor(var.quality_min) == var.quality_min
    error_message = "quality_min must be an integer from 1 to 100."
  }
}

variable "quality_max" {
  description = "Highest quality a request may ask for (1-100, at least quality_min). IMGPIPE_TRANSFORM_QUALITY_MAX."
  type        = number
  default     = 90

  validation {
    condition     = var.quality_max >= 1 && var.quality_max <= 100 && floor(var.quality_max) == var.quality_max
    error_message = "quality_max must be an integer from 1 to 100."
  }

  validation {
    condition     = var.quality_max >= var.quality_min
    error_message = "quality_max must be at least quality_min."
  }
}

variable "formats" {
  description = "Formats a request may ask for (jpeg, webp, avif, png), with jpeg or png among them; fmt=auto picks AVIF or WebP as Accept allows, else JPEG, else PNG. IMGPIPE_TRANSFORM_FORMATS."
  type        = list(string)
  default     = ["avif", "webp", "jpeg", "png"]
  nullable    = false

  validation {
    condition     = length(var.formats) > 0 && alltrue([for format in var.formats : contains(["jpeg", "webp", "avif", "png"], format)])
    error_message = "formats must be a non-empty list of jpeg, webp, avif and png."
  }

  validation {
    condition     = contains(var.formats, "jpeg") || contains(var.formats, "png")
    error_message = "formats must include jpeg or png: fmt=auto answers one of them to clients that decode neither AVIF nor WebP."
  }
}

variable "checked_sources_only" {
  description = "Transform only a source whose current version the pipeline processed (its manifest names that ETag): in the workflow mode, one that passed the malware scan and moderation; anything else is refused (403). The deployment root sets it in the workflow mode. IMGPIPE_TRANSFORM_CHECKED_ONLY."
  type        = bool
  default     = false
  nullable    = false
}

variable "signing" {
  description = "\"required\" (the default): every request needs a valid signature; \"off\": anyone may ask for any allowed transformation. IMGPIPE_TRANSFORM_SIGNING."
  type        = string
  default     = "required"
  nullable    = false

  validation {
    condition     = contains(["required", "off"], var.signing)
    error_message = "signing must be \"required\" or \"off\"."
  }
}

variable "signing_keys_parameter_name" {
  description = "Name of the SecureString parameter holding the signing keys (created and set outside Terraform, not managed by it; keep the default, the path the bootstrap keeps the plan roles off). null: /<name>/transform/signing-keys. IMGPIPE_TRANSFORM_KEYS_PARAMETER."
  type        = string
  default     = null

  validation {
    condition     = var.signing_keys_parameter_name == null || can(regex("^/[A-Za-z0-9_.\\-/]{1,1010}$", var.signing_keys_parameter_name))
    error_message = "signing_keys_parameter_name must be a parameter path starting with /."
  }
}

variable "results_prefix" {
  description = "Where results are stored in the output bucket, ending in /, without *, and not starting with t/ (the distribution serves this path from the bucket; * is a wildcard in its path pattern and the policies). IMGPIPE_TRANSFORM_PREFIX."
  type        = string
  default     = "transforms/"
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9!_.'()-][A-Za-z0-9!_.'()/-]*/$", var.results_prefix)) && !startswith(var.results_prefix, "t/") && alltrue([for s in split("/", trimsuffix(var.results_prefix, "/")) : s != "" && s != "." && s != ".."])
    error_message = "results_prefix must be a key prefix that ends in /, with no empty (a leading / or //), . or .. segment, no * and not start with t/: the distribution serves /<results_prefix>* from the bucket, which would take transformation paths (/t/…) from the function, and a * is a wildcard there and in the bucket and IAM policies that grant <results_prefix>* (\"*/\" would serve every output and manifest)."
  }
}

variable "redirect_expires_seconds" {
  description = "Lifetime of the presigned GET a result over 6 MB redirects to when the function has no CDN URL (10-3600; this module always gives it one, so only for other setups), cut to the expiration of the credentials that sign it where the SDK knows it, and to a signed URL's exp. IMGPIPE_TRANSFORM_REDIRECT_EXPIRES_SECONDS."
  type        = number
  default     = 300

  validation {
    condition     = var.redirect_expires_seconds >= 10 && var.redirect_expires_seconds <= 3600 && floor(var.redirect_expires_seconds) == var.redirect_expires_seconds
    error_message = "redirect_expires_seconds must be an integer from 10 to 3600."
  }
}

variable "max_age_seconds" {
  description = "Cache-Control max-age of responses to unsigned requests, and the cache policy's default TTL (0-31536000). Signed responses: a year, immutable. IMGPIPE_TRANSFORM_MAX_AGE_SECONDS."
  type        = number
  default     = 86400

  validation {
    condition     = var.max_age_seconds >= 0 && var.max_age_seconds <= 31536000 && floor(var.max_age_seconds) == var.max_age_seconds
    error_message = "max_age_seconds must be an integer from 0 to 31536000."
  }
}

variable "cdn_max_ttl_seconds" {
  description = "The longest CloudFront keeps a transformation or a stored result before asking the origin again (the cache policies' maximum TTL, 1-31536000): a source deleted, replaced or withdrawn by the workflow leaves CloudFront within it. Browsers keep signed responses for a year (immutable) regardless. The revalidation is a 304 from the function or the bucket, not a new transformation."
  type        = number
  default     = 86400

  validation {
    condition     = var.cdn_max_ttl_seconds >= 1 && var.cdn_max_ttl_seconds <= 31536000 && floor(var.cdn_max_ttl_seconds) == var.cdn_max_ttl_seconds
    error_message = "cdn_max_ttl_seconds must be an integer from 1 to 31536000."
  }
}

################################################################################
# The distribution
################################################################################

variable "domain_name" {
  description = "A custom domain for the distribution (with certificate_arn, in us-east-1), or null. Results over 6 MB redirect to https://<domain_name>/<results_prefix>…?v=… with it; without, to /<results_prefix>…?v=… on the distribution's own host."
  type        = string
  default     = null

  validation {
    condition     = var.domain_name == null || can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.domain_name))
    error_message = "domain_name must be a lowercase host name such as images.example.com."
  }
}

variable "certificate_arn" {
  description = "ACM certificate in us-east-1 for domain_name; required with it."
  type        = string
  default     = null

  validation {
    condition     = var.certificate_arn == null || can(regex("^arn:aws[a-z-]*:acm:us-east-1:[0-9]{12}:certificate/", var.certificate_arn))
    error_message = "certificate_arn must be an ACM certificate ARN in us-east-1 (CloudFront's region)."
  }

  validation {
    condition     = (var.domain_name == null) == (var.certificate_arn == null)
    error_message = "domain_name and certificate_arn go together: set both or neither."
  }
}

variable "price_class" {
  description = "CloudFront price class: PriceClass_100, PriceClass_200 or PriceClass_All."
  type        = string
  default     = "PriceClass_100"

  validation {
    condition     = contains(["PriceClass_100", "PriceClass_200", "PriceClass_All"], var.price_class)
    error_message = "price_class must be PriceClass_100, PriceClass_200 or PriceClass_All."
  }
}

variable "alarm_5xx_threshold" {
  description = "5xx answers of the function in 5 minutes that raise its alarm (1-10000)."
  type        = number
  default     = 5

  validation {
    condition     = var.alarm_5xx_threshold >= 1 && var.alarm_5xx_threshold <= 10000
    error_message = "alarm_5xx_threshold must be from 1 to 10000."
  }
}

variable "alarm_throttles_threshold" {
  description = "Requests Lambda refused in 5 minutes for want of concurrency (Throttles: beyond reserved_concurrency the viewer gets 429 or 503, which the function never saw, so neither Errors nor TransformServerErrors counts them) that raise its alarm (1-10000)."
  type        = number
  default     = 5

  validation {
    condition     = var.alarm_throttles_threshold >= 1 && var.alarm_throttles_threshold <= 10000
    error_message = "alarm_throttles_threshold must be from 1 to 10000."
  }
}

variable "alarm_origin_latency_ms" {
  description = "p90 duration of the function (CloudFront's origin latency on misses) in milliseconds over 15 minutes that raises the alarm (100-60000)."
  type        = number
  default     = 5000

  validation {
    condition     = var.alarm_origin_latency_ms >= 100 && var.alarm_origin_latency_ms <= 60000
    error_message = "alarm_origin_latency_ms must be from 100 to 60000."
  }
}

variable "alarm_5xx_rate_percent" {
  description = "Share of the distribution's requests answered 5xx (CloudFront 5xxErrorRate, in us-east-1), in percent over 10 minutes, that raises its alarm (0.1-100)."
  type        = number
  default     = 5

  validation {
    condition     = var.alarm_5xx_rate_percent >= 0.1 && var.alarm_5xx_rate_percent <= 100
    error_message = "alarm_5xx_rate_percent must be from 0.1 to 100."
  }
}

variable "cloudfront_alarm_topic_arn" {
  description = "SNS topic in us-east-1 for the CloudFront alarms (an alarm notifies topics of its own region only), or null to create one there, encrypted, with alarm_email subscribed."
  type        = string
  default     = null

  validation {
    condition     = var.cloudfront_alarm_topic_arn == null || can(regex("^arn:aws[a-z-]*:sns:us-east-1:[0-9]{12}:[A-Za-z0-9_-]{1,256}$", var.cloudfront_alarm_topic_arn))
    error_message = "cloudfront_alarm_topic_arn must be an SNS topic ARN in us-east-1."
  }
}

variable "alarm_email" {
  description = "Address subscribed to the CloudFront alarms' topic the module creates in us-east-1 (it confirms the subscription by mail), or null."
  type        = string
  default     = null

  validation {
    condition     = var.alarm_email == null || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alarm_email))
    error_message = "alarm_email must be an email address or null."
  }
}

variable "kms_key_administrator_arns" {
  description = "IAM roles or users (ARNs, up to 10) named in the policy of the CloudFront alarms' topic key as its administrators, besides the account's IAM policies: typically the deploy role that runs Terraform (as for modules/imgpipe). Empty for none."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = length(var.kms_key_administrator_arns) <= 10 && alltrue([for arn in var.kms_key_administrator_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/.+$", arn))])
    error_message = "kms_key_administrator_arns must hold at most 10 IAM role or user ARNs."
  }
}

variable "processing_role_name" {
  description = "The processing function's role (modules/imgpipe lambda_role_name), or null: it is allowed to delete results under results_prefix, which it does when their source is deleted (IMGPIPE_TRANSFORM_PREFIX in its environment)."
  type        = string
  default     = null

  validation {
    condition     = var.processing_role_name == null || can(regex("^[A-Za-z0-9+=,.@_-]{1,64}$", var.processing_role_name))
    error_message = "processing_role_name must be an IAM role name (1-64 characters) or null."
  }
}
