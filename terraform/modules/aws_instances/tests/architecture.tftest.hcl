# The image's architecture must be one the instance type runs (AWS's own
# DescribeInstanceTypes data): a Graviton type cannot boot an amd64 image.
# Mocked provider, no API: tests/static/terraform.sh.
mock_provider "aws" {
  mock_data "aws_ami" {
    defaults = { id = "ami-12345678", architecture = "x86_64" }
  }
  mock_data "aws_ec2_instance_type" {
    defaults = { supported_architectures = ["x86_64"] }
  }
}

variables {
  name        = "obsctl-prod"
  environment = "prod"
  public_key  = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTerraformTestOnly obsctl-test"
  ami_owner   = "136693071363"
  ami_name    = "debian-12-amd64-*"
  hosts = {
    "mon-1" = { roles = ["prometheus"], instance_type = "m6i.large", disk_gb = 20, subnet_id = "subnet-1", security_group_ids = ["sg-1"] }
    "app-1" = { roles = ["app"], instance_type = "t4g.small", disk_gb = 20, subnet_id = "subnet-1", security_group_ids = ["sg-1"] }
  }
}

run "x86_types_boot_the_amd64_image" {
  command = plan

  variables {
    hosts = {
      "mon-1" = { roles = ["prometheus"], instance_type = "m6i.large", disk_gb = 20, subnet_id = "subnet-1", security_group_ids = ["sg-1"] }
    }
  }
}

run "graviton_type_cannot_boot_the_amd64_image" {
  command = plan

  override_data {
    target = data.aws_ec2_instance_type.this["t4g.small"]
    values = { supported_architectures = ["arm64"] }
  }

  expect_failures = [aws_instance.this["app-1"]]
}
