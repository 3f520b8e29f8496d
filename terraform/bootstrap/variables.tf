variable "region" {
  description = "AWS region of the state bucket and of the deployments this account hosts, e.g. eu-west-1."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as eu-west-1."
  }
}

variable "github_repository" {
  description = "The GitHub repository (owner/name) whose workflows may assume the roles, e.g. acme/imgpipe."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9-]{1,39}/[A-Za-z0-9._-]{1,100}$", var.github_repository))
    error_message = "github_repository must be owner/name, e.g. acme/imgpipe."
  }
}

variable "environments" {
  description = "The environments this account hosts (1-3 of dev, staging, prod): each is a deployment named <name_prefix>-<environment>, with a deploy role only the GitHub environment of that name may assume and a read-only plan role for the GitHub environment <environment>-plan."
  type        = list(string)
  nullable    = false

  validation {
    condition     = length(var.environments) >= 1 && length(var.environments) <= 3 && length(distinct(var.environments)) == length(var.environments) && alltrue([for e in var.environments : contains(["dev", "staging", "prod"], e)])
    error_message = "environments must list 1-3 distinct names out of dev, staging and prod."
  }
}

variable "bench_environments" {
  description = "Environments (0-3, a subset of environments) whose function the bench workflow may sweep; a bench role is created when not empty, trusting jobs of the GitHub environment <environment>-bench alone. Typically [\"dev\"] in the dev account."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for e in var.bench_environments : contains(var.environments, e)])
    error_message = "bench_environments must be a subset of environments."
  }
}

variable "name_prefix" {
  description = "Prefix of every deployment name; the deployment root (terraform/deployment) uses imgpipe. 2-16 lowercase letters, digits and hyphens, starting with a letter."
  type        = string
  default     = "imgpipe"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,15}$", var.name_prefix))
    error_message = "name_prefix must be 2-16 lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "state_bucket_name" {
  description = "Name of the Terraform state bucket (3-63 lowercase letters, digits, dots and hyphens). null names it <name_prefix>-tfstate-<account id>-<region>, which the deploy workflow assumes."
  type        = string
  default     = null

  validation {
    condition     = var.state_bucket_name == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", coalesce(var.state_bucket_name, "x")))
    error_message = "state_bucket_name must be null or a valid bucket name (3-63 lowercase letters, digits, dots and hyphens)."
  }
}

variable "state_noncurrent_version_expiration_days" {
  description = "Days old versions of the state files are kept, for recovery (1-3650)."
  type        = number
  default     = 365
  nullable    = false

  validation {
    condition     = floor(var.state_noncurrent_version_expiration_days) == var.state_noncurrent_version_expiration_days && var.state_noncurrent_version_expiration_days >= 1 && var.state_noncurrent_version_expiration_days <= 3650
    error_message = "state_noncurrent_version_expiration_days must be a whole number between 1 and 3650."
  }
}

variable "create_github_oidc_provider" {
  description = "Whether to create the account's GitHub Actions OIDC provider (true), or use the one that already exists (false; an account holds one per URL)."
  type        = bool
  default     = true
  nullable    = false
}

variable "image_source_repository_arns" {
  description = "ECR repositories in other accounts the deploy role may pull from, to copy a build into this account by digest (e.g. the dev repository, from the staging and prod accounts). Each one's <name>-scanner beside it (the scanner image's builds, modules/workflow) is readable too. Empty for none. In an account that also hosts dev, the staging and prod deploy roles read its dev repositories without it."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for arn in var.image_source_repository_arns : can(regex("^arn:aws[a-z-]*:ecr:[a-z0-9-]+:[0-9]{12}:repository/[a-z0-9._/-]+$", arn))])
    error_message = "image_source_repository_arns must be ECR repository ARNs (arn:aws:ecr:<region>:<account>:repository/<name>)."
  }
}

variable "tags" {
  description = "Tags for every bootstrap resource, besides Project and ManagedBy. Up to 40 keys."
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    condition     = length(var.tags) <= 40
    error_message = "tags may hold at most 40 keys."
  }
}
