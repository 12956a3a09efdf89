variable "name" {
  description = "Name tag of the bastion and its Elastic IP (the aws stack passes \"obsctl-<environment>-bastion\")."
  type        = string
}

variable "ami_id" {
  description = "Image the bastion boots (the stack's hosts' image)."
  type        = string
}

variable "instance_type" {
  description = "EC2 instance type of the bastion."
  type        = string
  default     = "t3.micro"
}

variable "subnet_id" {
  description = "Public subnet of the bastion."
  type        = string
}

variable "security_group_ids" {
  description = "Security groups of the bastion (SSH from admin_cidrs only)."
  type        = list(string)
}

variable "key_name" {
  description = "EC2 key pair installed for the image's login user (the environment's key)."
  type        = string
}

variable "tags" {
  description = "Tags added to every resource of this module."
  type        = map(string)
  default     = {}
}
