output "ecr_repository_name" {
  description = "Name of the repository."
  value       = aws_ecr_repository.this.name
}

output "ecr_repository_arn" {
  description = "ARN of the repository."
  value       = aws_ecr_repository.this.arn
}

output "ecr_repository_url" {
  description = "URL of the repository (`<account>.dkr.ecr.<region>.amazonaws.com/<name>`), the part of an image URI before `@sha256:`."
  value       = aws_ecr_repository.this.repository_url
}

output "ecr_registry_id" {
  description = "Account ID of the registry holding the repository."
  value       = aws_ecr_repository.this.registry_id
}
