# environment, hosts, ports, components: obsctl_inputs.tf (shared with the lab stack).

variable "protected" {
  description = "The environment is protected (the env file's `protected`). Its Grafana database then always has deletion protection, leaves a final snapshot with a unique name and keeps its automated backups when deleted."
  type        = bool
  default     = false
}

variable "loki_retention_days" {
  description = "Loki's own retention in whole days (obsctl derives it from [loki] retention_period, rounded up). The bucket's lifecycle rule expires chunks a margin after it, never before Loki's compactor deletes them."
  type        = number
  default     = 7

  validation {
    condition     = floor(var.loki_retention_days) == var.loki_retention_days && var.loki_retention_days >= 1
    error_message = "loki_retention_days must be a whole number of days, at least 1."
  }
}

variable "ssh_public_key_file" {
  description = "Path of the OpenSSH public key installed on every instance (EC2 key pair)."
  type        = string

  validation {
    condition     = can(regex("^(ssh-ed25519|ssh-rsa) ", file(var.ssh_public_key_file)))
    error_message = "ssh_public_key_file must name a readable OpenSSH public key file of type ssh-ed25519 or ssh-rsa (EC2 imports no other type, ECDSA included)."
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
      admin_cidrs (who may reach the bastion (SSH; through it the hosts and
      the UIs) and the Grafana load balancer;
      0.0.0.0/0 is refused), instance_types (size => EC2 type), ami_owner and
      ami_name (most recent matching image; by default Debian's own images,
      owner 136693071363, of the release `os` names: "<os>-amd64-*", e.g.
      debian-13-amd64-*), ssh_user (the image's login user),
      loki_bucket_name (null = "obsctl-<environment>-loki-<account>-<region>"),
      endpoint (null = real AWS; a URL = send ec2, elb, elbv2, iam, logs, rds, s3
      and sts there with test credentials, e.g. moto at http://127.0.0.1:5000),
      loki_force_destroy (let destroy delete a non-empty Loki bucket),
      grafana_certificate_arn (the user's ACM certificate for the name users
      type: the load balancer serves Grafana on 443 with it and 80 only
      redirects; required when Grafana is deployed), tags (added to every resource). Ports come from `ports`,
      the Loki bucket's expiry from `loki_retention_days`.
      nat_per_zone (a NAT gateway per zone, true; false = one, cheaper, a
      single point of failure for outbound traffic), log_retention_days
      (the audit log bucket and the database's CloudWatch logs, 90),
      bastion_instance_type (t3.micro; the bastion boots the hosts' image).
      Grafana's RDS database (only with grafana_db_password):
      grafana_db_instance_class, grafana_db_storage_gb (gp3, 20-65536),
      grafana_db_multi_az (standby in a second zone, automatic failover),
      grafana_db_deletion_protection (false; a protected environment always
      gets it: the database then cannot be deleted until it is turned off
      again, and leaves a final snapshot when it is).
  EOT
  type = object({
    region                  = string
    availability_zones      = list(string)
    vpc_cidr                = optional(string, "10.60.0.0/16")
    admin_cidrs             = list(string)
    instance_types          = optional(map(string), { small = "t3.small", medium = "t3.medium", large = "m6i.large" })
    ami_owner               = optional(string, "136693071363")
    ami_name                = optional(string)
    ssh_user                = optional(string, "admin")
    loki_bucket_name        = optional(string)
    endpoint                = optional(string)
    loki_force_destroy      = optional(bool, false)
    grafana_certificate_arn = optional(string)
    tags                    = optional(map(string), {})

    grafana_db_instance_class      = optional(string, "db.t4g.micro")
    grafana_db_storage_gb          = optional(number, 20)
    grafana_db_multi_az            = optional(bool, true)
    grafana_db_deletion_protection = optional(bool, false)

    nat_per_zone          = optional(bool, true)
    log_retention_days    = optional(number, 90)
    bastion_instance_type = optional(string, "t3.micro")
  })

  # Grafana is served over HTTPS only, with the user's certificate (obsctl
  # refuses the environment file first; this guards a direct Terraform run).
  validation {
    condition = var.aws.grafana_certificate_arn != null || !contains(var.components, "grafana") || length([
      for h, v in var.hosts : h if contains(v.roles, "grafana")
    ]) == 0
    error_message = "aws.grafana_certificate_arn is required when Grafana is deployed: the load balancer serves Grafana over HTTPS only, with an ACM certificate for the name users type (request or import one in ACM and set it in [aws] of the environment file)."
  }

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
    condition     = alltrue([for c in var.aws.admin_cidrs : try(tonumber(split("/", c)[1]) >= 8, false)])
    error_message = "aws.admin_cidrs must not contain 0.0.0.0/0 or any network larger than a /8 (two /1 halves are the whole internet too): that would open SSH and the monitoring UIs to the internet. List the networks of your admins, e.g. your office or VPN range."
  }

  validation {
    condition     = length(var.aws.instance_types) > 0 && alltrue([for t in values(var.aws.instance_types) : can(regex("^[a-z][a-z0-9-]*[a-z0-9]\\.[a-z0-9]+(-[a-z0-9]+)*$", t))])
    error_message = "aws.instance_types must map size names to EC2 instance types such as t3.small or c7i.metal-24xl."
  }

  validation {
    condition     = alltrue([for h in values(var.hosts) : contains(keys(var.aws.instance_types), h.size)])
    error_message = "Every host's size must be one of aws.instance_types (${join(", ", sort(keys(var.aws.instance_types)))}). Offending hosts: ${join(", ", [for n, h in var.hosts : n if !contains(keys(var.aws.instance_types), h.size)])}."
  }

  validation {
    condition     = alltrue([for h in values(var.hosts) : h.zone < length(var.aws.availability_zones)])
    error_message = "Every host's zone must be an index into aws.availability_zones (0..${length(var.aws.availability_zones) - 1}). Offending hosts: ${join(", ", [for n, h in var.hosts : n if h.zone >= length(var.aws.availability_zones)])}."
  }

  validation {
    condition     = can(regex("^([0-9]{12}|amazon|self|aws-marketplace)$", var.aws.ami_owner))
    error_message = "aws.ami_owner must be a 12-digit account ID or one of amazon, self, aws-marketplace."
  }

  validation {
    condition     = var.aws.ami_name == null || length(trimspace(coalesce(var.aws.ami_name, " "))) > 0
    error_message = "aws.ami_name must not be empty (leave it out for Debian's image of the release `os` names)."
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
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.aws.log_retention_days)
    error_message = "aws.log_retention_days must be a retention CloudWatch Logs accepts: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653."
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

variable "grafana_db_password_version" {
  description = "Version of grafana_db_password (obsctl keeps it next to the password and raises it with `obsctl rotate-secret`). RDS is sent the write-only password again whenever this number changes."
  type        = number
  default     = 1

  validation {
    condition     = floor(var.grafana_db_password_version) == var.grafana_db_password_version && var.grafana_db_password_version >= 1
    error_message = "grafana_db_password_version must be a whole number, at least 1."
  }
}

variable "grafana_db_snapshot_identifier" {
  description = "An RDS snapshot Grafana's database is created from (obsctl passes the one `obsctl restore` recorded in .obsctl/<env>/grafana-db-restore.json); null = an empty database. A database that exists ignores it."
  type        = string
  default     = null
}

variable "egress_tcp_ports" {
  description = "TCP ports the hosts may connect to on the internet besides 80 and 443 (APT, HTTPS APIs): obsctl passes the ports of the environment file's receivers (SMTP smarthosts, webhook URLs)."
  type        = list(number)
  default     = []

  validation {
    condition     = alltrue([for p in var.egress_tcp_ports : floor(p) == p && p >= 1 && p <= 65535])
    error_message = "egress_tcp_ports must be TCP ports from 1 to 65535."
  }
}

variable "scrape_targets" {
  description = "What Prometheus scrapes beyond the stack's own components, derived by obsctl from the env file (docs/own-services.md, \"On aws\"): hosts = host name => TCP ports of the user's scrape jobs there (opened from the Prometheus hosts only); addresses = IPv4 address outside the stack (existing hosts, address targets) => TCP ports (the Prometheus hosts' egress to those only)."
  type = object({
    hosts     = optional(map(list(number)), {})
    addresses = optional(map(list(number)), {})
  })
  default = {}

  validation {
    condition     = alltrue([for h in keys(var.scrape_targets.hosts) : contains(keys(var.hosts), h)])
    error_message = "scrape_targets.hosts must name hosts of the stack (var.hosts)."
  }
}
