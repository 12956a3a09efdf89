output "public_ip" {
  description = "The bastion's Elastic IP: where obsctl's SSH ProxyJump goes."
  value       = aws_eip.this.public_ip
}

output "private_ip" {
  description = "The bastion's private address."
  value       = aws_instance.this.private_ip
}

output "instance_id" {
  description = "Instance ID of the bastion."
  value       = aws_instance.this.id
}
