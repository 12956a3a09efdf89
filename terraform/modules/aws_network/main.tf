# One VPC per environment, two tiers per availability zone:
#   public  (cidrsubnet(vpc_cidr, 4, i)):      the load balancer, the NAT
#           gateways and the bastion; nothing gets a public address by default.
#   private (cidrsubnet(vpc_cidr, 4, 8 + i)):  every host of the stack and
#           Grafana's database; no public address, outbound through the NAT
#           gateway of its zone (or of the first zone with nat_per_zone =
#           false), S3 through a gateway endpoint (no NAT charge, never
#           leaves AWS's network).
# Subnet index = position in availability_zones (at most 8 zones), so
# existing subnets keep their CIDR when zones are appended.

locals {
  subnets = {
    for i, az in var.availability_zones : az => {
      index        = i
      public_cidr  = cidrsubnet(var.vpc_cidr, 4, i)
      private_cidr = cidrsubnet(var.vpc_cidr, 4, 8 + i)
    }
  }
  # Zones that hold a NAT gateway, and the one each private subnet routes to.
  nat_zones = var.nat_per_zone ? var.availability_zones : [var.availability_zones[0]]
  nat_for   = { for az in var.availability_zones : az => var.nat_per_zone ? az : var.availability_zones[0] }
}

data "aws_region" "current" {}

resource "aws_vpc" "this" {
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true

  tags = merge(var.tags, { Name = var.name })
}

# The default security group of the VPC, emptied: no rule at all, so a
# resource that lands in it by mistake can neither be reached nor reach out.
resource "aws_default_security_group" "this" {
  vpc_id = aws_vpc.this.id

  tags = merge(var.tags, { Name = "${var.name}-default-unused" })
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id

  tags = merge(var.tags, { Name = var.name })
}

# --- public tier ----------------------------------------------------------

resource "aws_subnet" "public" {
  for_each = local.subnets

  vpc_id                  = aws_vpc.this.id
  availability_zone       = each.key
  cidr_block              = each.value.public_cidr
  map_public_ip_on_launch = false

  tags = merge(var.tags, { Name = "${var.name}-public-${each.key}", Tier = "public" })
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.this.id

  tags = merge(var.tags, { Name = "${var.name}-public" })
}

resource "aws_route" "public_default" {
  route_table_id         = aws_route_table.public.id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.this.id
}

resource "aws_route_table_association" "public" {
  for_each = aws_subnet.public

  subnet_id      = each.value.id
  route_table_id = aws_route_table.public.id
}

resource "aws_eip" "nat" {
  for_each = toset(local.nat_zones)

  domain = "vpc"

  tags = merge(var.tags, { Name = "${var.name}-nat-${each.key}" })

  depends_on = [aws_internet_gateway.this]
}

resource "aws_nat_gateway" "this" {
  for_each = toset(local.nat_zones)

  allocation_id = aws_eip.nat[each.key].id
  subnet_id     = aws_subnet.public[each.key].id

  tags = merge(var.tags, { Name = "${var.name}-${each.key}" })

  depends_on = [aws_internet_gateway.this]
}

# --- private tier ---------------------------------------------------------

resource "aws_subnet" "private" {
  for_each = local.subnets

  vpc_id                  = aws_vpc.this.id
  availability_zone       = each.key
  cidr_block              = each.value.private_cidr
  map_public_ip_on_launch = false

  tags = merge(var.tags, { Name = "${var.name}-private-${each.key}", Tier = "private" })
}

resource "aws_route_table" "private" {
  for_each = local.subnets

  vpc_id = aws_vpc.this.id

  tags = merge(var.tags, { Name = "${var.name}-private-${each.key}" })
}

resource "aws_route" "private_default" {
  for_each = local.subnets

  route_table_id         = aws_route_table.private[each.key].id
  destination_cidr_block = "0.0.0.0/0"
  nat_gateway_id         = aws_nat_gateway.this[local.nat_for[each.key]].id
}

resource "aws_route_table_association" "private" {
  for_each = aws_subnet.private

  subnet_id      = each.value.id
  route_table_id = aws_route_table.private[each.key].id
}

# S3 (the Loki bucket, Debian's mirrors are not on S3) through a gateway
# endpoint: free, and the traffic never crosses the NAT gateway.
resource "aws_vpc_endpoint" "s3" {
  vpc_id            = aws_vpc.this.id
  service_name      = "com.amazonaws.${data.aws_region.current.name}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = [for az in var.availability_zones : aws_route_table.private[az].id]

  tags = merge(var.tags, { Name = "${var.name}-s3" })
}

# --- flow logs ------------------------------------------------------------

# Every accepted and rejected flow of the VPC, into the audit log bucket.
resource "aws_flow_log" "this" {
  count = var.flow_logs ? 1 : 0

  vpc_id               = aws_vpc.this.id
  traffic_type         = "ALL"
  log_destination_type = "s3"
  log_destination      = var.flow_log_prefix == "" ? var.flow_log_bucket_arn : "${var.flow_log_bucket_arn}/${var.flow_log_prefix}/"
  # 10 minutes: the cheaper aggregation interval; the audit trail needs no 1-minute detail.
  max_aggregation_interval = 600

  tags = merge(var.tags, { Name = var.name })
}
