output "vpc_id" {
  description = "ID of the VPC."
  value       = aws_vpc.this.id
}

output "vpc_cidr" {
  description = "IPv4 CIDR of the VPC."
  value       = aws_vpc.this.cidr_block
}

output "public_subnet_ids" {
  description = "Public subnet IDs in the order of var.availability_zones: the load balancer, the NAT gateways and the bastion."
  value       = [for az in var.availability_zones : aws_subnet.public[az].id]
}

output "private_subnet_ids" {
  description = "Private subnet IDs in the order of var.availability_zones (index = a host's zone): the hosts and the database."
  value       = [for az in var.availability_zones : aws_subnet.private[az].id]
}

output "private_subnet_cidrs" {
  description = "CIDRs of the private subnets, in the order of var.availability_zones."
  value       = [for az in var.availability_zones : aws_subnet.private[az].cidr_block]
}

output "map_public_ip_on_launch" {
  description = "map_public_ip_on_launch of every subnet (subnet name => bool), for tests and reviews: false everywhere."
  value       = merge({ for az, s in aws_subnet.public : "public-${az}" => s.map_public_ip_on_launch }, { for az, s in aws_subnet.private : "private-${az}" => s.map_public_ip_on_launch })
}

output "internet_gateway_id" {
  description = "ID of the internet gateway."
  value       = aws_internet_gateway.this.id
}

output "nat_gateways" {
  description = "NAT gateway per zone that holds one (zone => public IP): the addresses the hosts' outbound traffic comes from (e.g. for a receiver's allow list)."
  value       = { for az, n in aws_nat_gateway.this : az => n.public_ip }
}

output "s3_endpoint_id" {
  description = "ID of the S3 gateway endpoint of the private route tables."
  value       = aws_vpc_endpoint.s3.id
}

output "flow_log" {
  description = "The VPC flow log: traffic type and destination (null without a flow log bucket)."
  value       = one([for f in aws_flow_log.this : { traffic_type = f.traffic_type, destination = f.log_destination }])
}

output "default_security_group_rules" {
  description = "Rules left in the VPC's default security group (ingress + egress count): 0."
  value       = length(aws_default_security_group.this.ingress) + length(aws_default_security_group.this.egress)
}
