variable "environment" {
  description = "Name of the environment (dev, prod, ...). Prefixes every resource name, so it must be short and DNS-safe."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,18}[a-z0-9]$", var.environment))
    error_message = "environment must be 2-20 characters: lower-case letters, digits and hyphens, starting with a letter and not ending with a hyphen."
  }
}

variable "hosts" {
  description = <<-EOT
    Machines to create, keyed by host name. roles: components the host runs
    (prometheus, alertmanager, grafana, loki, app); size: key of
    aws.instance_types; disk_gb: root volume size; zone: index into
    aws.availability_zones.
  EOT
  type = map(object({
    roles   = list(string)
    size    = optional(string, "small")
    disk_gb = optional(number, 20)
    zone    = optional(number, 0)
  }))

  validation {
    condition     = length(var.hosts) > 0
    error_message = "hosts must name at least one host."
  }

  validation {
    condition     = alltrue([for name in keys(var.hosts) : can(regex("^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$", name))])
    error_message = "Host names must be 1-32 characters of lower-case letters, digits and hyphens, not starting or ending with a hyphen."
  }

  validation {
    condition = alltrue([
      for h in values(var.hosts) : length(h.roles) > 0 && length(distinct(h.roles)) == length(h.roles) && alltrue([
        for r in h.roles : contains(["prometheus", "alertmanager", "grafana", "loki", "app"], r)
      ])
    ])
    error_message = "Every host needs a non-empty list of distinct roles out of: prometheus, alertmanager, grafana, loki, app. Offending hosts: ${join(", ", [for n, h in var.hosts : n if length(h.roles) == 0 || length(distinct(h.roles)) != length(h.roles) || !alltrue([for r in h.roles : contains(["prometheus", "alertmanager", "grafana", "loki", "app"], r)])])}."
  }

  validation {
    condition     = alltrue([for h in values(var.hosts) : contains(keys(var.aws.instance_types), h.size)])
    error_message = "Every host's size must be one of aws.instance_types (${join(", ", sort(keys(var.aws.instance_types)))}). Offending hosts: ${join(", ", [for n, h in var.hosts : n if !contains(keys(var.aws.instance_types), h.size)])}."
  }

  validation {
    condition     = alltrue([for h in values(var.hosts) : floor(h.zone) == h.zone && h.zone >= 0 && h.zone < length(var.aws.availability_zones)])
    error_message = "Every host's zone must be an index into aws.availability_zones (0..${length(var.aws.availability_zones) - 1}). Offending hosts: ${join(", ", [for n, h in var.hosts : n if !(floor(h.zone) == h.zone && h.zone >= 0 && h.zone < length(var.aws.availability_zones))])}."
  }

  validation {
    condition     = alltrue([for h in values(var.hosts) : floor(h.disk_gb) == h.disk_gb && h.disk_gb >= 8 && h.disk_gb <= 16384])
    error_message = "Every host's disk_gb must be a whole number between 8 and 16384."
  }
}

variable "ssh_public_key_file" {
  description = "Path of the OpenSSH public key installed on every instance (EC2 key pair)."
  type        = string

  validation {
    condition     = can(regex("^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) ", file(var.ssh_public_key_file)))
    error_message = "ssh_public_key_file must name a readable OpenSSH public key file (ssh-ed25519, ssh-rsa or ecdsa-sha2-*)."
  }
}

variable "ssh_private_key_file" {
  description = "Path of the matching private key. Never read by Terraform; only passed on in obsctl_inventory.ssh.private_key_file."
  type        = string

  validation {
    condition     = length(trimspace(var.ssh_private_key_file)) > 0
    error_message = "ssh_private_key_file must not be empty."
  }
}

variable "aws" {
  description = <<-EOT
    AWS settings.
      region, availability_zones (>= 2, in region), vpc_cidr (/16 to /23),
      admin_cidrs (who may reach SSH, the UIs and the Grafana load balancer;
      0.0.0.0/0 is refused), instance_types (size => EC2 type), ami_owner and
      ami_name (most recent matching image), ssh_user (the image's login user),
      loki_bucket_name (null = "obsctl-<environment>-loki-<account>-<region>"),
      endpoint (null = real AWS; a URL = send ec2, elb, elbv2, iam, rds, s3
      and sts there with test credentials, e.g. moto at http://127.0.0.1:5000),
      loki_retention_days (bucket lifecycle expiry), loki_force_destroy (let
      destroy delete a non-empty Loki bucket), grafana_certificate_arn (ACM
      certificate: HTTPS on 443 and 80 redirects), app_port, tags (added to
      every resource).
      Grafana's RDS database (only with grafana_db_password):
      grafana_db_instance_class, grafana_db_storage_gb (gp3, 20-65536),
      grafana_db_multi_az (standby in a second zone, automatic failover),
      grafana_db_deletion_protection (false; turn it on in prod: the database
      then cannot be deleted until it is turned off again, and gets a final
      snapshot when it is).
  EOT
  type = object({
    region                  = string
    availability_zones      = list(string)
    vpc_cidr                = optional(string, "10.60.0.0/16")
    admin_cidrs             = list(string)
    instance_types          = optional(map(string), { small = "t3.small", medium = "t3.medium", large = "m6i.large" })
    ami_owner               = optional(string, "136693071363")
    ami_name                = optional(string, "debian-12-amd64-*")
    ssh_user                = optional(string, "admin")
    loki_bucket_name        = optional(string)
    endpoint                = optional(string)
    loki_retention_days     = optional(number, 31)
    loki_force_destroy      = optional(bool, false)
    grafana_certificate_arn = optional(string)
    app_port                = optional(number, 8080)
    tags                    = optional(map(string), {})

    grafana_db_instance_class      = optional(string, "db.t4g.micro")
    grafana_db_storage_gb          = optional(number, 20)
    grafana_db_multi_az            = optional(bool, true)
    grafana_db_deletion_protection = optional(bool, false)
  })

  validation {
    condition     = can(regex("^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]+$", var.aws.region))
    error_message = "aws.region must be an AWS region name such as eu-west-1."
  }

  validation {
    condition     = length(distinct(var.aws.availability_zones)) >= 2 && length(distinct(var.aws.availability_zones)) == length(var.aws.availability_zones)
    error_message = "aws.availability_zones must list at least two distinct zones (the load balancer and HA need two)."
  }

  validation {
    condition     = alltrue([for az in var.aws.availability_zones : startswith(az, var.aws.region)])
    error_message = "Every entry of aws.availability_zones must be a zone of aws.region (e.g. ${var.aws.region}a)."
  }

  validation {
    condition     = can(cidrnetmask(var.aws.vpc_cidr)) && can(tonumber(split("/", var.aws.vpc_cidr)[1])) && try(tonumber(split("/", var.aws.vpc_cidr)[1]) >= 16 && tonumber(split("/", var.aws.vpc_cidr)[1]) <= 23, false)
    error_message = "aws.vpc_cidr must be an IPv4 CIDR from /16 to /23 (each availability zone gets a subnet 4 bits longer)."
  }

  validation {
    condition     = length(var.aws.admin_cidrs) > 0
    error_message = "aws.admin_cidrs must not be empty: it says who may reach SSH, the Prometheus and Alertmanager UIs and Grafana."
  }

  validation {
    condition     = alltrue([for c in var.aws.admin_cidrs : can(cidrnetmask(c)) && try(cidrhost(c, 0) == split("/", c)[0], false)])
    error_message = "aws.admin_cidrs entries must be IPv4 CIDRs written with their network address (e.g. 203.0.113.0/24, or 198.51.100.7/32 for one address). Offending: ${join(", ", [for c in var.aws.admin_cidrs : c if !(can(cidrnetmask(c)) && try(cidrhost(c, 0) == split("/", c)[0], false))])}."
  }

  validation {
    condition     = !anytrue([for c in var.aws.admin_cidrs : endswith(c, "/0")])
    error_message = "aws.admin_cidrs must not contain 0.0.0.0/0 (or any /0): that would open SSH and the monitoring UIs to the whole internet. List the networks of your admins, e.g. your office or VPN range."
  }

  validation {
    condition     = length(var.aws.instance_types) > 0 && alltrue([for t in values(var.aws.instance_types) : can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9]+$", t))])
    error_message = "aws.instance_types must map size names to EC2 instance types such as t3.small."
  }

  validation {
    condition     = can(regex("^([0-9]{12}|amazon|self|aws-marketplace)$", var.aws.ami_owner))
    error_message = "aws.ami_owner must be a 12-digit account ID or one of amazon, self, aws-marketplace."
  }

  validation {
    condition     = length(trimspace(var.aws.ami_name)) > 0
    error_message = "aws.ami_name must not be empty."
  }

  validation {
    condition     = can(regex("^[a-z_][a-z0-9_-]{0,31}$", var.aws.ssh_user))
    error_message = "aws.ssh_user must be a Unix user name (the image's default login user, e.g. admin on Debian)."
  }

  validation {
    condition     = var.aws.loki_bucket_name == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.aws.loki_bucket_name))
    error_message = "aws.loki_bucket_name must be null (derive one) or a valid S3 bucket name: 3-63 lower-case letters, digits, dots and hyphens."
  }

  validation {
    condition     = var.aws.endpoint == null || can(regex("^https?://[^/\\s]+/?$", var.aws.endpoint))
    error_message = "aws.endpoint must be null (real AWS) or a URL such as http://127.0.0.1:5000."
  }

  validation {
    condition     = var.aws.loki_retention_days >= 1 && floor(var.aws.loki_retention_days) == var.aws.loki_retention_days
    error_message = "aws.loki_retention_days must be a whole number of days, at least 1."
  }

  validation {
    condition     = var.aws.app_port >= 1 && var.aws.app_port <= 65535 && !contains([22, 80, 443, 3000, 3100, 7946, 9080, 9090, 9093, 9094, 9096, 9100], var.aws.app_port)
    error_message = "aws.app_port must be a free TCP port (not one the stack already uses)."
  }

  validation {
    condition     = can(regex("^db\\.[a-z0-9-]+\\.[a-z0-9]+$", var.aws.grafana_db_instance_class))
    error_message = "aws.grafana_db_instance_class must be an RDS instance class such as db.t4g.micro."
  }

  validation {
    condition     = floor(var.aws.grafana_db_storage_gb) == var.aws.grafana_db_storage_gb && var.aws.grafana_db_storage_gb >= 20 && var.aws.grafana_db_storage_gb <= 65536
    error_message = "aws.grafana_db_storage_gb must be a whole number of GiB from 20 to 65536."
  }
}

variable "grafana_db_password" {
  description = <<-EOT
    Password of Grafana's shared PostgreSQL database (RDS). obsctl generates
    it and keeps it in .obsctl/<env>/secrets/grafana_db_password. null = no
    database (Grafana keeps SQLite on each host). With a password and at
    least one grafana host the stack creates the database and adds its
    settings to obsctl_vars.
  EOT
  type        = string
  sensitive   = true
  default     = null

  validation {
    condition     = var.grafana_db_password == null || try(length(var.grafana_db_password) >= 16, false)
    error_message = "grafana_db_password must be null (no database) or at least 16 characters."
  }

  validation {
    condition     = var.grafana_db_password == null || try(length(var.grafana_db_password) <= 128 && can(regex("^[!#-.0-?A-~]+$", var.grafana_db_password)), false)
    error_message = "grafana_db_password may hold at most 128 printable ASCII characters and none of space, '\"', '/' and '@' (RDS refuses them)."
  }
}
