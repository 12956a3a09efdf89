output "obsctl_inventory" {
  description = "The inventory contract (docs/contract.md, schema 1) obsctl validates and hands to Ansible: every host with its addresses, SSH login, roles and labels."
  value = {
    schema      = 1
    environment = var.environment
    hosts = {
      for h, v in var.hosts : h => {
        # Hosts are private (no public IP): obsctl reaches them at their
        # private address through the bastion (ssh.bastion).
        address         = module.instances.instances[h].private_ip
        private_address = module.instances.instances[h].private_ip
        ssh_user        = var.aws.ssh_user
        ssh_port        = 22
        roles           = v.roles
        labels = {
          zone        = module.instances.instances[h].availability_zone
          provider    = "aws"
          instance_id = module.instances.instances[h].id
        }
        # The roles mount it at the data roots (docs/upgrades.md).
        data_volume = try(module.instances.data_volumes[h].id, null)
      }
    }
    ssh = {
      private_key_file = var.ssh_private_key_file
      bastion          = "${var.aws.ssh_user}@${module.bastion.public_ip}"
    }
  }
}

output "grafana_url" {
  description = "Grafana through the load balancer (its DNS name); null when no host has the grafana role."
  value       = one(module.grafana_lb[*].url)
}

output "grafana_lb_dns_name" {
  description = "DNS name of the Grafana load balancer (for a CNAME/alias record); null without grafana hosts."
  value       = one(module.grafana_lb[*].dns_name)
}

output "loki_bucket" {
  description = "S3 bucket Loki stores chunks and index in (with loki_bucket_region for Loki's storage_config); null when no host has the loki role."
  value       = one(module.loki_bucket[*].bucket_name)
}

output "loki_bucket_region" {
  description = "Region of the Loki bucket; null when no host has the loki role."
  value       = one(module.loki_bucket[*].bucket_region)
}

output "vpc_id" {
  description = "ID of the environment's VPC."
  value       = module.network.vpc_id
}

output "ami_id" {
  description = "AMI the ami_owner/ami_name filter resolves to now (running instances keep the one they were built from)."
  value       = module.instances.ami_id
}

output "grafana_db_endpoint" {
  description = "host:port of Grafana's shared PostgreSQL database (RDS); null when the environment has no such database (no grafana_db_password or no grafana hosts)."
  value       = one(module.grafana_db[*].endpoint)
}

output "obsctl_vars" {
  description = "Extra environment-wide Ansible variables obsctl adds to the inventory: where Loki stores its chunks, Grafana's public URL and, with the RDS database, Grafana's database settings (obsctl adds grafana_database_password_file itself). The grafana_database_* keys are absent without the database, so the grafana role's defaults (sqlite3) apply."
  value = merge(
    {
      loki_s3_bucket   = one(module.loki_bucket[*].bucket_name)
      loki_s3_region   = one(module.loki_bucket[*].bucket_region)
      grafana_root_url = one(module.grafana_lb[*].url)
    },
    [for db in module.grafana_db : {
      grafana_database          = "postgres"
      grafana_database_host     = db.endpoint
      grafana_database_name     = db.database_name
      grafana_database_user     = db.username
      grafana_database_ssl_mode = "require"
    }]...
  )
}

output "bastion" {
  description = "The SSH bastion's public address (an Elastic IP): the only address of the environment admins and obsctl connect to besides the load balancer."
  value       = module.bastion.public_ip
}

output "nat_addresses" {
  description = "Public addresses the hosts' outbound traffic comes from (NAT gateway per zone), e.g. for a receiver's allow list."
  value       = module.network.nat_gateways
}

output "log_bucket" {
  description = "The audit log bucket: VPC flow logs (AWSLogs/<account>/vpcflowlogs/), the load balancer's access logs (alb/), the Loki bucket's access logs (s3/)."
  value       = module.logs.bucket_name
}

output "prometheus_security_group_ids" {
  description = "The Prometheus hosts' role security groups: what an existing host in the VPC admits on the ports Prometheus scrapes there (docs/existing-hosts.md, \"On aws\")."
  value       = module.security.prometheus_security_group_ids
}
