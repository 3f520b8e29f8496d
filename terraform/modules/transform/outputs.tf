output "cloudfront_distribution_arn" {
  description = "The distribution's ARN (modules/imgpipe output_cloudfront_distribution_arn: the output bucket and key policies let it alone read and decrypt the results)."
  value       = aws_cloudfront_distribution.this.arn
}

output "cloudfront_distribution_id" {
  description = "The distribution's id (for invalidations)."
  value       = aws_cloudfront_distribution.this.id
}

output "url" {
  description = "Base URL of transformations: <url>/t/<source key>?w=…&sig=… (imgpipe sign --base <url>)."
  value       = var.domain_name == null ? "https://${aws_cloudfront_distribution.this.domain_name}" : "https://${var.domain_name}"
}

output "cloudfront_domain_name" {
  description = "The distribution's own domain name (point domain_name's DNS record at it)."
  value       = aws_cloudfront_distribution.this.domain_name
}

output "lambda_function_name" {
  description = "The transformation function."
  value       = aws_lambda_function.this.function_name
}

output "lambda_function_url" {
  description = "The function URL (AWS_IAM: only the distribution may call it)."
  value       = aws_lambda_function_url.this.function_url
}

output "signing_keys_parameter_name" {
  description = "The SecureString parameter to create with the signing keys (one a line, newest first); Terraform does not manage it."
  value       = local.parameter_name
}

output "cloudfront_function_arn" {
  description = "The viewer-request function reducing Accept."
  value       = aws_cloudfront_function.this.arn
}
