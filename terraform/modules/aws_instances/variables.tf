variable "name" {
  description = "Name of the key pair and prefix of the instances' Name tags (\"<name>-<host>\"); the aws stack passes \"obsctl-<environment>\"."
  type        = string
}

variable "environment" {
  description = "Environment name, written to the Environment tag."
  type        = string
}

variable "public_key" {
  description = "OpenSSH public key (file contents) installed for the AMI's default user."
  type        = string

  validation {
    condition     = can(regex("^(ssh-ed25519|ssh-rsa) ", var.public_key))
    error_message = "public_key must be an OpenSSH public key of type ssh-ed25519 or ssh-rsa (EC2 imports no other type)."
  }
}

variable "ami_owner" {
  description = "Owner of the AMI to boot (account ID or alias such as \"amazon\")."
  type        = string
}

variable "ami_name" {
  description = "Name filter of the AMI (wildcards allowed); the most recent match is used."
  type        = string
}

variable "hosts" {
  description = "Instances to create, keyed by host name."
  type = map(object({
    roles                = list(string)
    instance_type        = string
    disk_gb              = number
    subnet_id            = string
    security_group_ids   = list(string)
    iam_instance_profile = optional(string)
  }))

  validation {
    condition     = alltrue([for h in values(var.hosts) : h.disk_gb >= 8 && h.disk_gb <= 16384])
    error_message = "disk_gb must be between 8 and 16384."
  }
}

variable "imds_hop_limit" {
  description = "IMDSv2 PUT response hop limit (1 = only processes on the host itself, 2 = also containers on it)."
  type        = number
  default     = 1
}

variable "tags" {
  description = "Tags added to every resource of this module."
  type        = map(string)
  default     = {}
}

variable "data_volumes" {
  description = "The data volume of each stateful host (a subset of hosts' keys): its size in GiB and the availability zone of the host's subnet (given, not read from the instance, so that a replaced instance does not replace the volume)."
  type = map(object({
    size_gb           = number
    availability_zone = string
  }))
  default = {}

  validation {
    condition     = alltrue([for v in values(var.data_volumes) : floor(v.size_gb) == v.size_gb && v.size_gb >= 1 && v.size_gb <= 16384])
    error_message = "data_volumes: size_gb must be a whole number from 1 to 16384."
  }
}

variable "protected" {
  description = "The environment is protected: written to the data volumes' Protected tag (obsctl refuses a plan that deletes one unless --allow-destroy)."
  type        = bool
  default     = false
}
