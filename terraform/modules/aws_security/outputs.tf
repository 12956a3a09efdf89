output "stack_security_group_id" {
  description = "ID of the security group every host of the stack is in."
  value       = aws_security_group.stack.id
}

output "role_security_group_ids" {
  description = "Role security group ID per role set (e.g. \"alertmanager-loki\")."
  value       = { for p, sg in aws_security_group.role : p => sg.id }
}

output "host_security_group_ids" {
  description = "Security group IDs to attach to each host (host name => [stack group, role group, its scrape group, the scraper group]; the stack group alone for a host whose roles are all turned off; the scrape group only where the user's jobs scrape the host, the scraper group only on Prometheus hosts that scrape addresses outside the stack)."
  value = {
    for h in keys(var.hosts_roles) : h => concat(
      [aws_security_group.stack.id],
      [for p in [lookup(local.host_profile, h, null)] : aws_security_group.role[p].id if p != null],
      [for sg in [lookup(aws_security_group.scraped, h, null)] : sg.id if sg != null],
      contains(local.prometheus_hosts, h) ? aws_security_group.scraper[*].id : [],
    )
  }
}

output "prometheus_security_group_ids" {
  description = "IDs of the role security groups of the Prometheus hosts: an existing host's own firewall or security group admits these on the ports Prometheus scrapes there (docs/existing-hosts.md)."
  value       = sort([for p in local.prometheus_profiles : aws_security_group.role[p].id])
}

output "lb_security_group_id" {
  description = "ID of the Grafana load balancer security group, null when no host has the grafana role."
  value       = one(aws_security_group.lb[*].id)
}

output "grafana_security_group_ids" {
  description = "IDs of the role security groups of hosts with the grafana role (one per role set that contains grafana; empty without grafana hosts). Grafana's database admits exactly these."
  value       = [for p, roles in local.profiles : aws_security_group.role[p].id if contains(roles, "grafana")]
}

output "ingress_ports" {
  description = "Ports each security group opens (group name => sorted distinct ports), for tests and reviews."
  value = merge(
    { (aws_security_group.stack.name) = sort(distinct([for r in aws_security_group.stack.ingress : r.from_port])) },
    { for p, sg in aws_security_group.role : sg.name => sort(distinct([for r in sg.ingress : r.from_port])) },
    { for h, sg in aws_security_group.scraped : sg.name => sort(distinct([for r in sg.ingress : r.from_port])) },
    { for sg in aws_security_group.scraper : sg.name => [] },
  )
}

output "bastion_security_group_id" {
  description = "ID of the bastion's security group (SSH from admin_cidrs)."
  value       = aws_security_group.bastion.id
}

output "egress" {
  description = "Every egress rule of the stack's groups (group name => list of {protocol, from, to, cidrs, groups}), for tests and reviews."
  value = merge(
    {
      (aws_security_group.stack.name) = [for r in aws_security_group.stack.egress : {
        protocol = r.protocol, from = r.from_port, to = r.to_port, cidrs = (r.cidr_blocks == null ? [] : sort(r.cidr_blocks)), groups = r.self == true ? ["self"] : (r.security_groups == null ? [] : sort(r.security_groups))
      }]
    },
    { for p, sg in aws_security_group.role : sg.name => [for r in sg.egress : { protocol = r.protocol, from = r.from_port, to = r.to_port, cidrs = (r.cidr_blocks == null ? [] : sort(r.cidr_blocks)), groups = (r.security_groups == null ? [] : sort(r.security_groups)) }] },
    { for h, sg in aws_security_group.scraped : sg.name => [for r in sg.egress : { protocol = r.protocol, from = r.from_port, to = r.to_port, cidrs = (r.cidr_blocks == null ? [] : sort(r.cidr_blocks)), groups = (r.security_groups == null ? [] : sort(r.security_groups)) }] },
    { for sg in aws_security_group.scraper : sg.name => [for r in sg.egress : { protocol = r.protocol, from = r.from_port, to = r.to_port, cidrs = (r.cidr_blocks == null ? [] : sort(r.cidr_blocks)), groups = [] }] },
    { for sg in aws_security_group.lb : sg.name => [for r in values(aws_vpc_security_group_egress_rule.lb) : {
      protocol = r.ip_protocol, from = r.from_port, to = r.to_port, cidrs = [], groups = [r.referenced_security_group_id]
    }] },
    {
      (aws_security_group.bastion.name) = concat(
        [for r in values(aws_vpc_security_group_egress_rule.bastion_to_stack) : { protocol = r.ip_protocol, from = r.from_port, to = r.to_port, cidrs = [], groups = [r.referenced_security_group_id] }],
        [for r in values(aws_vpc_security_group_egress_rule.bastion_apt) : { protocol = r.ip_protocol, from = r.from_port, to = r.to_port, cidrs = [r.cidr_ipv4], groups = [] }],
      )
    },
  )
}

output "lb_egress_expected" {
  description = "Where the load balancer may send traffic: Grafana's port on each Grafana role group (for tests)."
  value       = { port = var.ports.grafana_http_port, groups = sort([for p in local.grafana_profiles : aws_security_group.role[p].id]) }
}

output "scrape_ingress" {
  description = "The user's scrape targets opened on the stack's hosts (scrape group name => list of {port, groups}: the groups admitted), for tests and reviews."
  value       = { for h, sg in aws_security_group.scraped : sg.name => [for r in sg.ingress : { port = r.from_port, groups = sort(r.security_groups) }] }
}
