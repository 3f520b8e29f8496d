output "state_bucket_name" {
  description = "Name of the Terraform state bucket: pass it to `terraform init -backend-config=bucket=...` in the deployment root (terraform/deployment)."
  value       = module.state_bucket.s3_bucket_id
}

output "region" {
  description = "The region of the state bucket and of every resource the bootstrap makes: pass it to `terraform init -backend-config=region=...`."
  value       = var.region
}

output "state_bucket_arn" {
  description = "ARN of the Terraform state bucket."
  value       = module.state_bucket.s3_bucket_arn
}

output "github_oidc_provider_arn" {
  description = "ARN of the account's GitHub Actions OIDC provider."
  value       = local.github_oidc_provider_arn
}

output "deploy_role_arns" {
  description = "ARN of each environment's deploy role (`<name_prefix>-github-deploy-<environment>`), by environment: the deploy workflow's job in that GitHub environment assumes it."
  value       = { for environment, role in aws_iam_role.deploy : environment => role.arn }
}

output "plan_role_arns" {
  description = "ARN of each environment's read-only plan role (`<name_prefix>-github-plan-<environment>`), by environment: jobs in the GitHub environment `<environment>-plan` assume it."
  value       = { for environment, role in aws_iam_role.plan : environment => role.arn }
}

output "bench_role_arn" {
  description = "ARN of the role the bench workflow assumes, or null when bench_environments is empty."
  value       = one(aws_iam_role.bench[*].arn)
}

output "function_boundary_policy_arns" {
  description = "ARN of each environment's permissions boundary (`<name_prefix>-<environment>-function-boundary`), by environment: every function role of that environment's deployment must carry it, and it reaches that deployment's resources alone."
  value       = { for environment, policy in aws_iam_policy.function_boundaries : environment => policy.arn }
}

output "backend_config" {
  description = "The bucket and region arguments for `terraform init` of the deployment root (terraform/deployment), for the environments of this account; the state key comes from the environment's backend.s3.tfbackend."
  value       = "-backend-config=bucket=${module.state_bucket.s3_bucket_id} -backend-config=region=${var.region}"
}
