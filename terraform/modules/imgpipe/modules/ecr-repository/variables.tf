variable "name" {
  description = "Name of the repository: 2-256 lowercase letters, digits and `._-/` separators, starting with a letter or digit."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9._/-]{1,255}$", var.name))
    error_message = "name must be 2-256 lowercase letters, digits, dots, underscores, hyphens and slashes, starting with a letter or digit."
  }
}

variable "max_image_count" {
  description = "Images to keep; older ones expire (1-10000). Each release pushes one image per architecture, and rolling back needs the previous release's image, so keep at least 4."
  type        = number
  default     = 60
  nullable    = false

  validation {
    condition     = floor(var.max_image_count) == var.max_image_count && var.max_image_count >= 1 && var.max_image_count <= 10000
    error_message = "max_image_count must be a whole number between 1 and 10000."
  }
}

variable "force_delete" {
  description = "Whether `terraform destroy` may delete the repository while it still holds images (true or false)."
  type        = bool
  default     = false
  nullable    = false
}

variable "pull_account_ids" {
  description = "Other AWS accounts (12-digit IDs) allowed to pull images, so a staging or production account can copy a build by digest. Empty for none."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for id in var.pull_account_ids : can(regex("^[0-9]{12}$", id))])
    error_message = "pull_account_ids must be 12-digit AWS account IDs."
  }
}

variable "tags" {
  description = "Tags for the repository, merged with the provider's default_tags. Up to 50 keys."
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    condition     = length(var.tags) <= 50
    error_message = "ECR allows at most 50 tags on a repository."
  }
}
