variable "name" {
  description = "Prefix for resource names (usually the environment name)."
  type        = string
}

variable "vpc_cidr" {
  description = "IPv4 CIDR of the VPC, /16 to /23. A public and a private subnet per availability zone are carved out of it (4 extra prefix bits each: public i, private 8 + i)."
  type        = string

  validation {
    condition     = can(cidrnetmask(var.vpc_cidr)) && tonumber(split("/", var.vpc_cidr)[1]) >= 16 && tonumber(split("/", var.vpc_cidr)[1]) <= 23
    error_message = "vpc_cidr must be an IPv4 CIDR between /16 and /23."
  }
}

variable "availability_zones" {
  description = "Availability zones to spread subnets over, at least two. Subnet i gets the i-th /+4 block of vpc_cidr, so keep the order stable."
  type        = list(string)

  validation {
    condition     = length(distinct(var.availability_zones)) >= 2 && length(distinct(var.availability_zones)) == length(var.availability_zones) && length(var.availability_zones) <= 8
    error_message = "availability_zones must list two to eight distinct zones (private subnets start at block 8)."
  }
}

variable "tags" {
  description = "Tags added to every resource of this module."
  type        = map(string)
  default     = {}
}

variable "nat_per_zone" {
  description = "One NAT gateway per availability zone (true: losing a zone leaves the others' outbound traffic, alert notifications included, untouched) or a single one in the first zone (false: cheaper, a single point of failure for outbound traffic)."
  type        = bool
  default     = true
}

variable "flow_logs" {
  description = "Log every flow of the VPC into flow_log_bucket_arn (a separate switch: the bucket may be known only at apply)."
  type        = bool
  default     = false
}

variable "flow_log_bucket_arn" {
  description = "ARN of the S3 bucket VPC flow logs go to (the audit log bucket), with flow_logs."
  type        = string
  default     = null
}

variable "flow_log_prefix" {
  description = "Key prefix of the flow logs in that bucket, without a trailing slash; \"\" = the bucket's root (AWSLogs/<account>/vpcflowlogs/…)."
  type        = string
  default     = ""
}
