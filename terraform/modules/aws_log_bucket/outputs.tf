output "bucket_name" {
  description = "Name of the audit log bucket."
  # Through the policy: a writer that uses this name waits until the
  # bucket lets the log delivery services in.
  value = aws_s3_bucket_policy.this.bucket
}

output "bucket_arn" {
  description = "ARN of the audit log bucket."
  value       = aws_s3_bucket.this.arn
}

output "prefixes" {
  description = "Key prefix of each log delivery (flow_logs, alb, s3), without a trailing slash; flow logs at the bucket's root (\"\")."
  value       = local.prefixes
}

output "retention" {
  description = "What the lifecycle rule keeps, for tests and reviews: days a log is kept, days a noncurrent version is kept, versioning status."
  value = {
    days            = one(aws_s3_bucket_lifecycle_configuration.this.rule[0].expiration[*].days)
    noncurrent_days = one(aws_s3_bucket_lifecycle_configuration.this.rule[0].noncurrent_version_expiration[*].noncurrent_days)
    versioning      = aws_s3_bucket_versioning.this.versioning_configuration[0].status
  }
}
