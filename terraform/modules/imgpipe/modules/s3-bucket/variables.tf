variable "bucket" {
  description = "Name of the bucket: 3-63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket))
    error_message = "bucket must be 3-63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit."
  }
}

variable "kms_key_arn" {
  description = "ARN of the KMS key for default encryption (SSE-KMS with an S3 bucket key). null uses SSE-S3 (AES256)."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.kms_key_arn))
    error_message = "kms_key_arn must be null or a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)."
  }
}

variable "cloudfront_distribution_arns" {
  description = "CloudFront distributions that may read the bucket's objects through origin access control (s3:GetObject, aws:SourceArn equal to one of these ARNs). Empty for none."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for arn in var.cloudfront_distribution_arns : can(regex("^arn:aws[a-z-]*:cloudfront::[0-9]{12}:distribution/[A-Z0-9]+$", arn))])
    error_message = "cloudfront_distribution_arns must be CloudFront distribution ARNs (arn:aws:cloudfront::<account>:distribution/<id>)."
  }
}

variable "cloudtrail_trail_arns" {
  description = "CloudTrail trails that may deliver their log files to this bucket (s3:GetBucketAcl and s3:PutObject under AWSLogs/, scoped by aws:SourceArn). Empty for none."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for arn in var.cloudtrail_trail_arns : can(regex("^arn:aws[a-z-]*:cloudtrail:[a-z0-9-]+:[0-9]{12}:trail/[A-Za-z0-9._-]+$", arn))])
    error_message = "cloudtrail_trail_arns must be CloudTrail trail ARNs (arn:aws:cloudtrail:<region>:<account>:trail/<name>)."
  }
}

variable "attach_policy" {
  description = "Whether the module attaches the bucket policy (true or false). false when the caller attaches s3_bucket_policy_json with statements of its own, e.g. one naming a resource created after the bucket (S3 keeps one policy per bucket)."
  type        = bool
  default     = true
  nullable    = false
}

variable "versioning_enabled" {
  description = "Whether to keep object versions (true or false). Pair it with a noncurrent_version_expiration_days lifecycle rule."
  type        = bool
  default     = false
  nullable    = false
}

variable "force_destroy" {
  description = "Whether `terraform destroy` may delete a bucket that still holds objects (true or false). Keep false outside throw-away environments."
  type        = bool
  default     = false
  nullable    = false
}

variable "lifecycle_rules" {
  description = <<-EOT
    Lifecycle rules, each applying to the objects under `prefix` ("" for all objects). Per rule, every
    number is optional and in days: expiration_days (1-36500), noncurrent_version_expiration_days
    (1-36500), abort_incomplete_multipart_upload_days (1-36500), transition_to_standard_ia_days
    (30-36500, S3's minimum for Standard-IA); expired_object_delete_marker removes delete markers
    left without versions and cannot be combined with expiration_days. Empty for no lifecycle
    configuration.
  EOT
  type = list(object({
    id                                     = string
    prefix                                 = optional(string, "")
    expiration_days                        = optional(number)
    expired_object_delete_marker           = optional(bool, false)
    noncurrent_version_expiration_days     = optional(number)
    abort_incomplete_multipart_upload_days = optional(number)
    transition_to_standard_ia_days         = optional(number)
  }))
  default  = []
  nullable = false

  validation {
    condition     = length(distinct([for rule in var.lifecycle_rules : rule.id])) == length(var.lifecycle_rules)
    error_message = "Each lifecycle rule needs a unique id."
  }

  validation {
    condition = alltrue([
      for rule in var.lifecycle_rules : alltrue([
        for days in [rule.expiration_days, rule.noncurrent_version_expiration_days, rule.abort_incomplete_multipart_upload_days] :
        days == null ? true : (floor(days) == days && days >= 1 && days <= 36500)
      ])
    ])
    error_message = "Lifecycle rule day counts must be whole numbers between 1 and 36500."
  }

  validation {
    condition = alltrue([
      for rule in var.lifecycle_rules : rule.transition_to_standard_ia_days == null ? true : (
        floor(rule.transition_to_standard_ia_days) == rule.transition_to_standard_ia_days &&
        rule.transition_to_standard_ia_days >= 30 && rule.transition_to_standard_ia_days <= 36500
      )
    ])
    error_message = "transition_to_standard_ia_days must be a whole number between 30 and 36500 (S3 moves objects to Standard-IA after 30 days at the earliest)."
  }

  validation {
    condition     = alltrue([for rule in var.lifecycle_rules : !(rule.expired_object_delete_marker && rule.expiration_days != null)])
    error_message = "A lifecycle rule cannot set both expired_object_delete_marker and expiration_days (S3 rejects the combination)."
  }
}

variable "tags" {
  description = "Tags for the bucket, merged with the provider's default_tags. Up to 50 keys."
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    condition     = length(var.tags) <= 50
    error_message = "S3 allows at most 50 tags on a bucket."
  }
}
