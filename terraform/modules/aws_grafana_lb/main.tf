resource "aws_lb" "this" {
  name               = var.name
  load_balancer_type = "application"
  internal           = false
  subnets            = var.subnet_ids
  security_groups    = var.security_group_ids

  drop_invalid_header_fields = true
  # A protected environment's load balancer cannot be deleted by a plan
  # (its DNS name, which users' records point at, would change).
  enable_deletion_protection = var.deletion_protection

  dynamic "access_logs" {
    for_each = var.access_logs ? [var.access_logs_bucket] : []
    content {
      bucket  = access_logs.value
      prefix  = var.access_logs_prefix
      enabled = true
    }
  }

  tags = merge(var.tags, { Name = "${var.name}-grafana" })
}

resource "aws_lb_target_group" "this" {
  name   = var.name
  vpc_id = var.vpc_id
  port   = var.grafana_port
  # Grafana serves HTTPS itself (the host's certificate from the
  # environment CA): the hop from the load balancer is encrypted too. (An
  # ALB does not check a target's certificate.)
  protocol    = "HTTPS"
  target_type = "instance"

  deregistration_delay = 30

  health_check {
    path                = "/api/health"
    port                = "traffic-port"
    protocol            = "HTTPS"
    matcher             = "200"
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }

  tags = merge(var.tags, { Name = "${var.name}-grafana" })
}

resource "aws_lb_target_group_attachment" "this" {
  for_each = var.targets

  target_group_arn = aws_lb_target_group.this.arn
  target_id        = each.value
  port             = var.grafana_port
}

# Port 80 only redirects: Grafana is served over HTTPS only.
resource "aws_lb_listener" "http" {
  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = "redirect"
    redirect {
      port        = "443"
      protocol    = "HTTPS"
      status_code = "HTTP_301"
    }
  }

  tags = var.tags
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = var.ssl_policy
  certificate_arn   = var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this.arn
  }

  tags = var.tags
}
