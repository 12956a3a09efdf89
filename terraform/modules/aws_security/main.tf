# Every host gets two security groups:
#   - "stack": on every host; SSH from the bastion, node_exporter and the
#     log agent from other stack members. Membership in it is what "from the
#     stack" means in all other rules, and it holds every host's egress.
#   - one "role" group per distinct set of roles (hosts with equal roles
#     share it), opening exactly the ports those roles need.
#   - "scrape-<host>": on a host where the user's scrape jobs
#     (docs/own-services.md) have targets; admits exactly those ports, from
#     the Prometheus hosts' role groups only.
#   - "scraper": on the Prometheus hosts, when they scrape addresses outside
#     the stack (existing hosts, a job's IPv4 target); egress only, to
#     exactly those ports of those addresses.
# Three groups per host at most stays below the default limit of five per
# ENI, however many roles a host carries.

locals {
  # Who may reach a port: "stack" = the stack security group, "admin" =
  # the bastion (the hosts are private: admins and obsctl reach the UIs
  # through it), "lb" = the Grafana load balancer. Port numbers come
  # from var.ports (obsctl's component registry), never from here.
  role_ports = {
    prometheus = [
      { port = var.ports.prometheus_port, protocol = "tcp", from = ["stack", "admin"], description = "Prometheus API and UI" },
    ]
    alertmanager = [
      { port = var.ports.alertmanager_port, protocol = "tcp", from = ["stack", "admin"], description = "Alertmanager API and UI" },
      { port = var.ports.alertmanager_cluster_port, protocol = "tcp", from = ["stack"], description = "Alertmanager cluster" },
      { port = var.ports.alertmanager_cluster_port, protocol = "udp", from = ["stack"], description = "Alertmanager cluster" },
    ]
    grafana = [
      { port = var.ports.grafana_http_port, protocol = "tcp", from = ["stack", "lb"], description = "Grafana" },
      { port = var.ports.grafana_alerting_ha_port, protocol = "tcp", from = ["stack"], description = "Grafana alerting HA" },
      { port = var.ports.grafana_alerting_ha_port, protocol = "udp", from = ["stack"], description = "Grafana alerting HA" },
    ]
    loki = [
      { port = var.ports.loki_http_port, protocol = "tcp", from = ["stack"], description = "Loki HTTP" },
      { port = var.ports.loki_grpc_port, protocol = "tcp", from = ["stack"], description = "Loki gRPC" },
      { port = var.ports.loki_memberlist_port, protocol = "tcp", from = ["stack"], description = "Loki memberlist" },
      { port = var.ports.loki_memberlist_port, protocol = "udp", from = ["stack"], description = "Loki memberlist" },
    ]
    app = [
      { port = var.ports.app_port, protocol = "tcp", from = ["stack"], description = "Application" },
    ]
  }

  every_host_ports = {
    node_exporter = { port = var.ports.node_exporter_port, protocol = "tcp", description = "node_exporter" }
    alloy         = { port = var.ports.alloy_http_port, protocol = "tcp", description = "Alloy (log agent)" }
    promtail      = { port = var.ports.promtail_http_port, protocol = "tcp", description = "Promtail (legacy log agent)" }
  }
  stack_ports = [for c in var.every_host : local.every_host_ports[c]]

  # Role set => sorted roles, e.g. "alertmanager-loki" => ["alertmanager", "loki"].
  # Hosts whose roles are all turned off (--without) get the stack group only.
  profiles = {
    for roles in distinct([for r in values(var.hosts_roles) : sort(distinct(r)) if length(r) > 0]) : join("-", roles) => roles
  }

  host_profile = { for h, roles in var.hosts_roles : h => join("-", sort(distinct(roles))) if length(roles) > 0 }

  has_grafana = anytrue([for roles in values(var.hosts_roles) : contains(roles, "grafana")])

  # Ingress blocks per role set: one block per (port, protocol, source).
  profile_ingress = {
    for p, roles in local.profiles : p => flatten([
      for role in roles : [
        for rule in local.role_ports[role] : [
          for source in rule.from : {
            port        = rule.port
            protocol    = rule.protocol
            source      = source
            description = "${rule.description} from ${source}"
          }
        ]
      ]
    ])
  }

  lb_ports = var.lb_https ? [80, 443] : [80]

  source_group = {
    stack = aws_security_group.stack.id
    admin = aws_security_group.bastion.id
    lb    = one(aws_security_group.lb[*].id)
  }

  egress_tcp_ports = sort(distinct(concat([80, 443], var.egress_tcp_ports)))

  # What obsctl and admins reach through the bastion: SSH on every host,
  # and the ports of the "admin" rules above (the UIs).
  bastion_ports = sort(distinct(concat([22], flatten([
    for role, rules in local.role_ports : [for r in rules : r.port if r.protocol == "tcp" && contains(r.from, "admin")]
  ]))))
  grafana_profiles = [for p, roles in local.profiles : p if contains(roles, "grafana")]

  # The role groups of the hosts that run Prometheus: the only source the
  # user's scrape targets are opened to.
  prometheus_profiles = [for p, roles in local.profiles : p if contains(roles, "prometheus")]
  prometheus_hosts    = [for h, roles in var.hosts_roles : h if contains(roles, "prometheus")]
  scraped_hosts = length(local.prometheus_profiles) == 0 ? {} : {
    for h, ports in var.scrape_targets.hosts : h => sort(distinct(ports)) if length(ports) > 0 && contains(keys(var.hosts_roles), h)
  }
  scraped_addresses = length(local.prometheus_profiles) == 0 ? [] : flatten([
    for a, ports in var.scrape_targets.addresses : [for p in sort(distinct(ports)) : { address = a, port = p }]
  ])
}

# Rules are inline, so each group is authoritative: a rule added by hand
# outside Terraform is removed again on the next apply.

# --- stack group (every host) ---------------------------------------------

resource "aws_security_group" "stack" {
  name        = "${var.name}-stack"
  description = "obsctl ${var.name}: every host of the stack"
  vpc_id      = var.vpc_id

  ingress {
    description     = "SSH from the bastion"
    protocol        = "tcp"
    from_port       = 22
    to_port         = 22
    security_groups = [aws_security_group.bastion.id]
  }

  dynamic "ingress" {
    for_each = local.stack_ports
    content {
      description = "${ingress.value.description} from stack"
      protocol    = ingress.value.protocol
      from_port   = ingress.value.port
      to_port     = ingress.value.port
      self        = true
    }
  }

  # Egress of every host (the role groups add none): the peers, whatever
  # protocol the components speak among themselves; the database; and to
  # the internet only TCP to the ports in egress_tcp_ports (APT over HTTP
  # and HTTPS, the receivers' SMTP and webhook ports).
  egress {
    description = "Peers (every host of the stack)"
    protocol    = "-1"
    from_port   = 0
    to_port     = 0
    self        = true
  }

  dynamic "egress" {
    for_each = local.egress_tcp_ports
    content {
      description = "TCP ${egress.value} to the internet (APT, HTTPS, receivers)"
      protocol    = "tcp"
      from_port   = egress.value
      to_port     = egress.value
      cidr_blocks = ["0.0.0.0/0"]
    }
  }

  dynamic "egress" {
    for_each = var.database == null ? [] : [var.database]
    content {
      description = "Grafana database"
      protocol    = "tcp"
      from_port   = egress.value.port
      to_port     = egress.value.port
      cidr_blocks = egress.value.cidr_blocks
    }
  }

  tags = merge(var.tags, { Name = "${var.name}-stack" })
}

# --- role groups (one per distinct role set) ------------------------------

resource "aws_security_group" "role" {
  for_each = local.profiles

  name        = "${var.name}-role-${each.key}"
  description = "obsctl ${var.name}: hosts with roles ${join(", ", each.value)}"
  vpc_id      = var.vpc_id

  dynamic "ingress" {
    for_each = local.profile_ingress[each.key]
    content {
      description     = ingress.value.description
      protocol        = ingress.value.protocol
      from_port       = ingress.value.port
      to_port         = ingress.value.port
      security_groups = [local.source_group[ingress.value.source]]
    }
  }

  # No egress of its own: the stack group holds every host's.
  egress = []

  tags = merge(var.tags, { Name = "${var.name}-role-${each.key}", Roles = join(",", each.value) })
}

# --- the user's scrape targets (docs/own-services.md) ----------------------

resource "aws_security_group" "scraped" {
  for_each = local.scraped_hosts

  name        = "${var.name}-scrape-${each.key}"
  description = "obsctl ${var.name}: the user's scrape targets on ${each.key}"
  vpc_id      = var.vpc_id

  dynamic "ingress" {
    for_each = each.value
    content {
      description     = "Scrape target ${ingress.value} from the Prometheus hosts"
      protocol        = "tcp"
      from_port       = ingress.value
      to_port         = ingress.value
      security_groups = sort([for p in local.prometheus_profiles : aws_security_group.role[p].id])
    }
  }

  # No egress of its own: the stack group holds every host's.
  egress = []

  tags = merge(var.tags, { Name = "${var.name}-scrape-${each.key}" })
}

resource "aws_security_group" "scraper" {
  count = length(local.scraped_addresses) > 0 ? 1 : 0

  name        = "${var.name}-scraper"
  description = "obsctl ${var.name}: Prometheus to the scrape targets outside the stack"
  vpc_id      = var.vpc_id

  ingress = []

  dynamic "egress" {
    for_each = local.scraped_addresses
    content {
      description = "Scrape ${egress.value.address}:${egress.value.port}"
      protocol    = "tcp"
      from_port   = egress.value.port
      to_port     = egress.value.port
      cidr_blocks = ["${egress.value.address}/32"]
    }
  }

  tags = merge(var.tags, { Name = "${var.name}-scraper" })
}

# --- Grafana load balancer group ------------------------------------------

resource "aws_security_group" "lb" {
  count = local.has_grafana ? 1 : 0

  name        = "${var.name}-grafana-lb"
  description = "obsctl ${var.name}: Grafana load balancer"
  vpc_id      = var.vpc_id

  dynamic "ingress" {
    for_each = local.lb_ports
    content {
      description = "HTTP${ingress.value == 443 ? "S" : ""} from admin"
      protocol    = "tcp"
      from_port   = ingress.value
      to_port     = ingress.value
      cidr_blocks = var.admin_cidrs
    }
  }

  # Egress: the rules below (a group of their own each: the Grafana groups
  # already name this one, inline rules would be a cycle).

  tags = merge(var.tags, { Name = "${var.name}-grafana-lb" })
}

# The load balancer reaches Grafana's port on the Grafana hosts' groups,
# and nothing else.
resource "aws_vpc_security_group_egress_rule" "lb" {
  for_each = toset(local.has_grafana ? local.grafana_profiles : [])

  security_group_id            = aws_security_group.lb[0].id
  description                  = "Grafana on hosts with roles ${each.key}"
  ip_protocol                  = "tcp"
  from_port                    = var.ports.grafana_http_port
  to_port                      = var.ports.grafana_http_port
  referenced_security_group_id = aws_security_group.role[each.key].id

  tags = merge(var.tags, { Name = "${var.name}-grafana-lb-to-${each.key}" })

  lifecycle {
    # moto keeps the description of a rule only when it names a CIDR, so a
    # rule that names a group reads back without one and would differ on
    # every plan. Safe on AWS: a description grants nothing; a changed one
    # is applied when the rule is next replaced (the Name tag says the same).
    ignore_changes = [description]
  }
}

# --- bastion group --------------------------------------------------------

# The only way in from outside: SSH from admin_cidrs. From the bastion, SSH
# to every host and the UIs' ports (obsctl's HTTP calls to Prometheus and
# Alertmanager travel through it), plus APT for its own updates.
resource "aws_security_group" "bastion" {
  name        = "${var.name}-bastion"
  description = "obsctl ${var.name}: SSH bastion"
  vpc_id      = var.vpc_id

  ingress {
    description = "SSH from admin"
    protocol    = "tcp"
    from_port   = 22
    to_port     = 22
    cidr_blocks = var.admin_cidrs
  }

  tags = merge(var.tags, { Name = "${var.name}-bastion" })
}

resource "aws_vpc_security_group_egress_rule" "bastion_to_stack" {
  for_each = toset([for p in local.bastion_ports : tostring(p)])

  security_group_id            = aws_security_group.bastion.id
  description                  = "TCP ${each.key} to the stack"
  ip_protocol                  = "tcp"
  from_port                    = tonumber(each.key)
  to_port                      = tonumber(each.key)
  referenced_security_group_id = aws_security_group.stack.id

  tags = merge(var.tags, { Name = "${var.name}-bastion-to-stack-${each.key}" })

  lifecycle {
    ignore_changes = [description] # as for the load balancer's rules above
  }
}

resource "aws_vpc_security_group_egress_rule" "bastion_apt" {
  for_each = toset(["80", "443"])

  security_group_id = aws_security_group.bastion.id
  description       = "APT (TCP ${each.key})"
  ip_protocol       = "tcp"
  from_port         = tonumber(each.key)
  to_port           = tonumber(each.key)
  cidr_ipv4         = "0.0.0.0/0"

  tags = merge(var.tags, { Name = "${var.name}-bastion-apt-${each.key}" })
}
