resource "aws_s3_bucket" "this" {
  bucket        = var.bucket_name
  force_destroy = var.force_destroy

  tags = merge(var.tags, { Name = var.bucket_name })
}

resource "aws_s3_bucket_ownership_controls" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket = aws_s3_bucket.this.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = var.kms_key_arn == null ? "AES256" : "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = var.kms_key_arn != null
  }
}

# Loki's retention docs: let Loki's compactor delete what is past
# retention_period, and if a bucket lifecycle rule is used at all, expire
# only the tenants' chunk objects ("<tenant>/…"), never with an empty prefix:
# index/ (TSDB index and the compactor's delete requests) and
# loki_cluster_seed.json must stay, or Loki loses data it still serves. The
# rule expires chunks expiry_margin_days after Loki would have deleted them
# itself, so it only catches chunks the compactor missed.
resource "aws_s3_bucket_lifecycle_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  dynamic "rule" {
    for_each = var.tenants
    content {
      id     = "expire-loki-chunks-${rule.value}"
      status = "Enabled"

      filter {
        prefix = "${rule.value}/"
      }

      expiration {
        days = var.loki_retention_days + var.expiry_margin_days
      }

      abort_incomplete_multipart_upload {
        days_after_initiation = 1
      }
    }
  }

  # Versioning keeps what Loki (or anyone with the Loki role) deletes or
  # overwrites as a noncurrent version for noncurrent_days: recoverable for
  # that long, then gone, so the bucket does not grow without end. Delete
  # markers left alone are removed too.
  rule {
    id     = "expire-noncurrent-versions"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_days
    }

    expiration {
      expired_object_delete_marker = true
    }

    # Uploads Loki never completed (a crash mid-flush), anywhere in the bucket.
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]
}

resource "aws_s3_bucket_versioning" "this" {
  bucket = aws_s3_bucket.this.id

  versioning_configuration {
    status = "Enabled"
  }
}

# Server access logs (every request on the bucket) into the audit log bucket.
resource "aws_s3_bucket_logging" "this" {
  count = var.access_logging ? 1 : 0

  bucket        = aws_s3_bucket.this.id
  target_bucket = var.access_log_bucket
  target_prefix = "${var.access_log_prefix}/"
}

data "aws_iam_policy_document" "bucket" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.this.arn,
      "${aws_s3_bucket.this.arn}/*",
    ]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  bucket = aws_s3_bucket.this.id
  policy = data.aws_iam_policy_document.bucket.json

  # The public access block must exist first, or a policy could briefly be
  # evaluated without it.
  depends_on = [aws_s3_bucket_public_access_block.this]
}

# --- IAM: what Loki hosts may do ------------------------------------------

data "aws_iam_policy_document" "assume_ec2" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "loki" {
  statement {
    sid       = "ListBucket"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [aws_s3_bucket.this.arn]
  }

  statement {
    sid       = "ReadWriteObjects"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${aws_s3_bucket.this.arn}/*"]
  }
}

resource "aws_iam_role" "loki" {
  name               = "${var.name}-loki"
  description        = "Loki hosts of ${var.name}: read/write the Loki bucket"
  assume_role_policy = data.aws_iam_policy_document.assume_ec2.json

  tags = var.tags
}

resource "aws_iam_role_policy" "loki" {
  name   = "loki-bucket"
  role   = aws_iam_role.loki.id
  policy = data.aws_iam_policy_document.loki.json
}

resource "aws_iam_instance_profile" "loki" {
  name = "${var.name}-loki"
  role = aws_iam_role.loki.name

  tags = var.tags
}
