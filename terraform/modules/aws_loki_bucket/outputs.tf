output "bucket_name" {
  description = "Name of the Loki bucket."
  value       = aws_s3_bucket.this.id
}

output "bucket_arn" {
  description = "ARN of the Loki bucket."
  value       = aws_s3_bucket.this.arn
}

output "bucket_region" {
  description = "Region of the Loki bucket (Loki's s3 storage config needs it)."
  value       = aws_s3_bucket.this.region
}

output "instance_profile_name" {
  description = "IAM instance profile to attach to Loki hosts."
  value       = aws_iam_instance_profile.loki.name
}

output "role_arn" {
  description = "ARN of the IAM role Loki hosts assume."
  value       = aws_iam_role.loki.arn
}
