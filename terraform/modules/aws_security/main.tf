# Every host gets two security groups:
#   - "stack": on every host; SSH from admin_cidrs, node_exporter and Promtail
#     from other stack members. Membership in it is what "from the stack"
#     means in all other rules.
#   - one "role" group per distinct set of roles (hosts with equal roles
#     share it), opening exactly the ports those roles need.
# Two groups per host stays far below the default limit of five per ENI,
# however many roles a host carries.

locals {
  # Who may reach a port: "stack" = the stack security group, "admin" =
  # every admin CIDR, "lb" = the Grafana load balancer. Port numbers come
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
}

# Rules are inline, so each group is authoritative: a rule added by hand
# outside Terraform is removed again on the next apply.

# --- stack group (every host) ---------------------------------------------

resource "aws_security_group" "stack" {
  name        = "${var.name}-stack"
  description = "obsctl ${var.name}: every host of the stack"
  vpc_id      = var.vpc_id

  ingress {
    description = "SSH from admin"
    protocol    = "tcp"
    from_port   = 22
    to_port     = 22
    cidr_blocks = var.admin_cidrs
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

  egress {
    description = "All outbound"
    protocol    = "-1"
    from_port   = 0
    to_port     = 0
    cidr_blocks = ["0.0.0.0/0"]
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
      cidr_blocks     = ingress.value.source == "admin" ? var.admin_cidrs : null
      security_groups = ingress.value.source == "stack" ? [aws_security_group.stack.id] : ingress.value.source == "lb" ? [aws_security_group.lb[0].id] : null
    }
  }

  egress {
    description = "All outbound"
    protocol    = "-1"
    from_port   = 0
    to_port     = 0
    cidr_blocks = ["0.0.0.0/0"]
  }

  tags = merge(var.tags, { Name = "${var.name}-role-${each.key}", Roles = join(",", each.value) })
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

  egress {
    description = "All outbound"
    protocol    = "-1"
    from_port   = 0
    to_port     = 0
    cidr_blocks = ["0.0.0.0/0"]
  }

  tags = merge(var.tags, { Name = "${var.name}-grafana-lb" })
}
