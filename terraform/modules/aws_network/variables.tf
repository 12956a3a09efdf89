variable "name" {
  description = "Prefix for resource names (usually the environment name)."
  type        = string
}

variable "vpc_cidr" {
  description = "IPv4 CIDR of the VPC, /16 to /23. One public subnet per availability zone is carved out of it (4 extra prefix bits each)."
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
    condition     = length(distinct(var.availability_zones)) >= 2 && length(distinct(var.availability_zones)) == length(var.availability_zones)
    error_message = "availability_zones must list at least two distinct zones."
  }
}

variable "tags" {
  description = "Tags added to every resource of this module."
  type        = map(string)
  default     = {}
}
