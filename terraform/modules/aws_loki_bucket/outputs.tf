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

output "chunk_expiry" {
  description = "What the lifecycle rule expires: one {prefix, days} per tenant (the tenant's chunks only; index/ and the cluster seed never expire)."
  value = [
    for r in aws_s3_bucket_lifecycle_configuration.this.rule : {
      prefix = one(r.filter[*].prefix)
      days   = one(r.expiration[*].days)
    } if length(r.expiration) > 0
  ]
}
