variable "description" {
  description = "Description of the key: what it encrypts (at most 8192 characters)."
  type        = string
  nullable    = false

  validation {
    condition     = length(var.description) >= 1 && length(var.description) <= 8192
    error_message = "description must be 1-8192 characters."
  }
}

variable "alias_name" {
  description = "The key's alias, alias/<name> (letters, digits, /, _ and -; not alias/aws/), or null for none."
  type        = string
  default     = null

  validation {
    condition     = var.alias_name == null || (can(regex("^alias/[A-Za-z0-9/_-]{1,250}$", var.alias_name)) && !startswith(coalesce(var.alias_name, "-"), "alias/aws/"))
    error_message = "alias_name must be null or alias/<name> with letters, digits, /, _ and -, not under alias/aws/."
  }
}

variable "administrator_arns" {
  description = "IAM roles or users that administer the key without an IAM grant (e.g. the deploy role, so KMS's lockout check passes when it creates the key). At most 10; empty for none."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = length(var.administrator_arns) <= 10 && alltrue([for arn in var.administrator_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/.+$", arn))])
    error_message = "administrator_arns must hold at most 10 IAM role or user ARNs."
  }
}

variable "policy_documents" {
  description = "JSON policy documents (aws_iam_policy_document) with the statements that let services use the key, merged after the administration statements; in the policy from the key's creation on. Sids must be unique."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for document in var.policy_documents : can(jsondecode(document).Statement)])
    error_message = "policy_documents must hold JSON policy documents (with a Statement), e.g. aws_iam_policy_document json."
  }
}

variable "late_policy_documents" {
  description = "JSON policy documents with statements naming resources that need the key before they exist (e.g. a CloudFront distribution whose origin is encrypted with it): in the key policy resource only, applied once those resources exist, never in the policy the key is created with. Sids must be unique."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for document in var.late_policy_documents : can(jsondecode(document).Statement)])
    error_message = "late_policy_documents must hold JSON policy documents (with a Statement), e.g. aws_iam_policy_document json."
  }
}

variable "rotation_period_in_days" {
  description = "Days between automatic rotations (90-2560), or null for KMS's default (365). Rotation is always on."
  type        = number
  default     = null

  validation {
    condition     = var.rotation_period_in_days == null || try(floor(var.rotation_period_in_days) == var.rotation_period_in_days && var.rotation_period_in_days >= 90 && var.rotation_period_in_days <= 2560, false)
    error_message = "rotation_period_in_days must be null or a whole number between 90 and 2560."
  }
}

variable "deletion_window_in_days" {
  description = "Days between scheduling the key's deletion and its deletion (7-30)."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = floor(var.deletion_window_in_days) == var.deletion_window_in_days && var.deletion_window_in_days >= 7 && var.deletion_window_in_days <= 30
    error_message = "deletion_window_in_days must be a whole number between 7 and 30."
  }
}

variable "tags" {
  description = "Tags for the key, merged with the provider's default_tags. Up to 50 keys."
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    condition     = length(var.tags) <= 50
    error_message = "KMS allows at most 50 tags on a key."
  }
}
