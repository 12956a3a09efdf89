output "instances" {
  description = "Per host: instance ID, availability zone, public IP (empty when none) and private IP."
  value = {
    for h, i in aws_instance.this : h => {
      id                = i.id
      availability_zone = i.availability_zone
      public_ip         = i.public_ip
      private_ip        = i.private_ip
    }
  }
}

output "ami_id" {
  description = "ID of the AMI that matched the filter (what new instances boot)."
  value       = data.aws_ami.this.id
}

output "key_pair_name" {
  description = "Name of the EC2 key pair."
  value       = aws_key_pair.this.key_name
}

output "cpu_credits" {
  description = "CPU credit mode per host (\"standard\" for burstable T types, null for the others)."
  value       = { for h, i in aws_instance.this : h => one(i.credit_specification[*].cpu_credits) }
}

output "data_volumes" {
  description = "Per stateful host: its data volume's ID (the roles find the device by it), size and whether it is encrypted."
  value = {
    for h, v in aws_ebs_volume.data : h => {
      id        = v.id
      size_gb   = v.size
      encrypted = v.encrypted
    }
  }
}

output "subnet_ids" {
  description = "The subnet of each host (the caller's private subnets: no public IPv4 on launch)."
  value       = { for h, i in aws_instance.this : h => i.subnet_id }
}
