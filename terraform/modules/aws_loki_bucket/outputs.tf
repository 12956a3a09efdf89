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
    } if startswith(r.id, "expire-loki-chunks-")
  ]
}

output "versions" {
  description = "Versioning of the bucket and how long noncurrent versions stay (days), for tests and reviews."
  value = {
    versioning      = aws_s3_bucket_versioning.this.versioning_configuration[0].status
    noncurrent_days = one(flatten([for r in aws_s3_bucket_lifecycle_configuration.this.rule : r.noncurrent_version_expiration[*].noncurrent_days]))
  }
}

output "access_logs" {
  description = "Where the bucket's server access logs go (bucket, prefix), null without."
  value       = one([for l in aws_s3_bucket_logging.this : { bucket = l.target_bucket, prefix = l.target_prefix }])
}
