# The SSH bastion: the one host with a public address. obsctl (Ansible,
# status, silence, verify, the fast path, `obsctl ssh`) reaches the private
# hosts through it with SSH ProxyJump; its HTTP calls to Prometheus and
# Alertmanager travel through an SSH tunnel over it. Its address is an
# Elastic IP, so a stop/start or a rebuild keeps the name obsctl pinned the
# host key under and the admins' firewall rules. No instance profile: the
# bastion holds no AWS credential.

resource "aws_instance" "this" {
  ami           = var.ami_id
  instance_type = var.instance_type
  # The public subnet maps no public IPv4 on launch: the Elastic IP below
  # is its only address (no associate_public_ip_address: see aws_instances).
  subnet_id              = var.subnet_id
  vpc_security_group_ids = var.security_group_ids
  key_name               = var.key_name

  dynamic "credit_specification" {
    for_each = can(regex("^t[0-9]", var.instance_type)) ? [1] : []
    content {
      cpu_credits = "standard"
    }
  }

  root_block_device {
    volume_type           = "gp3"
    volume_size           = 8
    encrypted             = true
    delete_on_termination = true
  }

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  tags = merge(var.tags, { Name = var.name, Role = "bastion" })

  lifecycle {
    ignore_changes = [ami]
  }
}

resource "aws_eip" "this" {
  domain   = "vpc"
  instance = aws_instance.this.id

  tags = merge(var.tags, { Name = var.name })
}
