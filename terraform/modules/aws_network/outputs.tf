output "vpc_id" {
  description = "ID of the VPC."
  value       = aws_vpc.this.id
}

output "vpc_cidr" {
  description = "IPv4 CIDR of the VPC."
  value       = aws_vpc.this.cidr_block
}

output "public_subnet_ids" {
  description = "Public subnet IDs in the order of var.availability_zones (index = a host's zone)."
  value       = [for az in var.availability_zones : aws_subnet.public[az].id]
}

output "public_subnet_ids_by_az" {
  description = "Public subnet ID per availability zone."
  value       = { for az, s in aws_subnet.public : az => s.id }
}

output "internet_gateway_id" {
  description = "ID of the internet gateway."
  value       = aws_internet_gateway.this.id
}
