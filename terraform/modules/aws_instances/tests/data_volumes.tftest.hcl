# The data volumes (docs/upgrades.md, "Data that survives a machine"): one
# encrypted gp3 volume per stateful host, attached to its instance; a
# replaced instance gets the same volume again (the volume is not replaced,
# only the attachment). Mocked provider, no API: tests/static/terraform.sh.
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
  ami_name    = "debian-13-amd64-*"
  protected   = true
  hosts = {
    "mon-1" = { roles = ["prometheus", "alertmanager"], instance_type = "m6i.large", disk_gb = 20, subnet_id = "subnet-1", security_group_ids = ["sg-1"] }
    "app-1" = { roles = ["app"], instance_type = "t3.small", disk_gb = 20, subnet_id = "subnet-1", security_group_ids = ["sg-1"] }
  }
  data_volumes = {
    "mon-1" = { size_gb = 50, availability_zone = "eu-west-1a" }
  }
}

run "a_stateful_host_gets_an_encrypted_volume_attached" {
  command = apply

  assert {
    condition     = keys(aws_ebs_volume.data) == ["mon-1"]
    error_message = "only the stateful host mon-1 gets a data volume"
  }
  assert {
    condition     = aws_ebs_volume.data["mon-1"].encrypted && aws_ebs_volume.data["mon-1"].type == "gp3" && aws_ebs_volume.data["mon-1"].size == 50
    error_message = "the data volume is encrypted gp3 of the size asked"
  }
  assert {
    condition     = aws_ebs_volume.data["mon-1"].availability_zone == "eu-west-1a" && aws_ebs_volume.data["mon-1"].tags["Protected"] == "true"
    error_message = "the volume is in the host's zone and carries the environment's protection"
  }
  assert {
    condition     = aws_volume_attachment.data["mon-1"].volume_id == aws_ebs_volume.data["mon-1"].id && aws_volume_attachment.data["mon-1"].instance_id == aws_instance.this["mon-1"].id
    error_message = "the volume is attached to mon-1's instance"
  }
  assert {
    condition     = output.data_volumes["mon-1"].encrypted && output.data_volumes["mon-1"].id == aws_ebs_volume.data["mon-1"].id
    error_message = "the output names the volume (the inventory's data_volume)"
  }
}

# The instance replaced (what `obsctl up --replace mon-1` asks Terraform; a
# new subnet, image or type does the same on real AWS, which the mock
# provider cannot tell): the volume stays, the attachment follows the new
# instance.
run "a_replaced_instance_gets_the_same_volume" {
  command = apply

  plan_options {
    replace = [aws_instance.this["mon-1"]]
  }

  assert {
    condition     = aws_instance.this["mon-1"].id != run.a_stateful_host_gets_an_encrypted_volume_attached.instances["mon-1"].id
    error_message = "the test needs the instance replaced"
  }
  assert {
    condition     = aws_ebs_volume.data["mon-1"].id == run.a_stateful_host_gets_an_encrypted_volume_attached.data_volumes["mon-1"].id
    error_message = "the data volume must survive the instance's replacement"
  }
  assert {
    condition     = aws_volume_attachment.data["mon-1"].instance_id == aws_instance.this["mon-1"].id
    error_message = "the volume is attached to the replacement"
  }
}
