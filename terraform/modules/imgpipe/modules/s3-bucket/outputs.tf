output "s3_bucket_id" {
  description = "Name of the bucket."
  value       = aws_s3_bucket.this.id

  # Callers use the bucket only once it is locked down.
  depends_on = [
    aws_s3_bucket_public_access_block.this,
    aws_s3_bucket_server_side_encryption_configuration.this,
    aws_s3_bucket_policy.this,
  ]
}

output "s3_bucket_arn" {
  description = "ARN of the bucket."
  value       = aws_s3_bucket.this.arn
}

output "s3_bucket_regional_domain_name" {
  description = "Regional domain name of the bucket (<bucket>.s3.<region>.amazonaws.com), the origin of a CloudFront distribution."
  value       = aws_s3_bucket.this.bucket_regional_domain_name
}

output "s3_bucket_policy_json" {
  description = "The bucket policy the module writes (TLS only; the distributions' and trails' statements when given), for a caller that attaches it itself (attach_policy = false)."
  value       = data.aws_iam_policy_document.combined.json
}
