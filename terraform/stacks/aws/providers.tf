locals {
  # aws.endpoint set = a mock or alternative AWS API (moto, LocalStack): every
  # service this stack uses goes there, with fixed test credentials, so that
  # real credentials in the environment are never sent to it and nothing
  # reaches real AWS.
  custom_endpoint = var.aws.endpoint != null
}

provider "aws" {
  region = var.aws.region

  access_key = local.custom_endpoint ? "test" : null
  secret_key = local.custom_endpoint ? "test" : null

  skip_credentials_validation = local.custom_endpoint
  # Asked even of a mock (moto answers STS): without the account the
  # provider writes a referenced security group as "<account>/sg-…" and
  # every rule that names a group differs on the next plan.
  skip_requesting_account_id = false
  skip_metadata_api_check    = local.custom_endpoint
  skip_region_validation     = local.custom_endpoint
  s3_use_path_style          = local.custom_endpoint

  dynamic "endpoints" {
    for_each = local.custom_endpoint ? [var.aws.endpoint] : []
    content {
      ec2   = endpoints.value
      elb   = endpoints.value
      elbv2 = endpoints.value
      iam   = endpoints.value
      logs  = endpoints.value
      rds   = endpoints.value
      s3    = endpoints.value
      sts   = endpoints.value
    }
  }

  default_tags {
    tags = merge(var.aws.tags, {
      Environment = var.environment
      ManagedBy   = "obsctl"
    })
  }
}
