data "aws_ami" "this" {
  most_recent = true
  owners      = [var.ami_owner]

  filter {
    name   = "name"
    values = [var.ami_name]
  }

  filter {
    name   = "state"
    values = ["available"]
  }
}

# What AWS says each instance type runs (DescribeInstanceTypes): a Graviton
# (arm64) type cannot boot an amd64 image, nor an x86_64 type an arm64 one.
data "aws_ec2_instance_type" "this" {
  for_each      = toset([for h in values(var.hosts) : h.instance_type])
  instance_type = each.key
}

resource "aws_key_pair" "this" {
  key_name   = var.name
  public_key = trimspace(var.public_key)

  tags = merge(var.tags, { Name = var.name })
}

resource "aws_instance" "this" {
  for_each = var.hosts

  ami           = data.aws_ami.this.id
  instance_type = each.value.instance_type
  # Private hosts (issue 32): a private subnet, which maps no public IPv4
  # on launch and has no route to an internet gateway. Not
  # associate_public_ip_address = false on top: set at all, the provider
  # launches through a network-interface specification, and moto then
  # reads the instance's security groups back empty (a perpetual diff on
  # vpc_security_group_ids); on AWS the subnet alone decides (tests:
  # run "private_hosts", tests/aws/moto.sh).
  subnet_id              = each.value.subnet_id
  vpc_security_group_ids = each.value.security_group_ids
  key_name               = aws_key_pair.this.key_name
  iam_instance_profile   = each.value.iam_instance_profile

  # Burstable (T) types: "standard" credits. The default for T3 is
  # "unlimited", which bills every minute above the baseline; a host that
  # runs out of credits is throttled instead, and CPUCreditBalance shows it.
  dynamic "credit_specification" {
    for_each = can(regex("^t[0-9]", each.value.instance_type)) ? [1] : []
    content {
      cpu_credits = "standard"
    }
  }

  root_block_device {
    volume_type           = "gp3"
    volume_size           = each.value.disk_gb
    encrypted             = true
    delete_on_termination = true
  }

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = var.imds_hop_limit
  }

  tags = merge(var.tags, {
    Name        = "${var.name}-${each.key}"
    Host        = each.key
    Environment = var.environment
    Roles       = join(",", each.value.roles)
  })

  lifecycle {
    precondition {
      condition     = contains(data.aws_ec2_instance_type.this[each.value.instance_type].supported_architectures, data.aws_ami.this.architecture)
      error_message = "Host ${each.key}: instance type ${each.value.instance_type} runs ${join(", ", data.aws_ec2_instance_type.this[each.value.instance_type].supported_architectures)}, and cannot boot image ${data.aws_ami.this.id} (${data.aws_ami.this.architecture}). Choose a type of that architecture in aws.instance_types, or another image."
    }

    # A newer image matching the filter must not replace running hosts on
    # the next plan; new hosts pick it up, old ones are rebuilt on purpose
    # (terraform apply -replace=...).
    ignore_changes = [ami]
  }
}

# The data volumes (docs/upgrades.md, "Data that survives a machine"): one
# encrypted gp3 EBS volume per stateful host, its own resource, so that a
# replaced instance (a new image, type or subnet; `up --replace`) gets the
# same volume attached again: only the attachment follows the instance. The
# roles format it once (ext4, label obsctl-data) and mount it at the data
# roots. Only removing the host (or `obsctl destroy`) deletes it; obsctl
# refuses that in a protected environment unless told (--allow-destroy).
resource "aws_ebs_volume" "data" {
  for_each = var.data_volumes

  availability_zone = each.value.availability_zone
  size              = each.value.size_gb
  type              = "gp3"
  encrypted         = true

  tags = merge(var.tags, {
    Name        = "${var.name}-${each.key}-data"
    Host        = each.key
    Environment = var.environment
    Protected   = tostring(var.protected)
  })
}

resource "aws_volume_attachment" "data" {
  for_each = var.data_volumes

  # The roles look for the volume by its ID (Nitro: an NVMe device whose
  # serial is the ID); the name is what Xen instances see.
  device_name = "/dev/sdf"
  volume_id   = aws_ebs_volume.data[each.key].id
  instance_id = aws_instance.this[each.key].id

  # Detached from a running instance only after it stopped: no half-written
  # TSDB block when the instance is replaced.
  stop_instance_before_detaching = true
}
