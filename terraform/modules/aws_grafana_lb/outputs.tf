output "dns_name" {
  description = "DNS name of the load balancer."
  value       = aws_lb.this.dns_name
}

output "url" {
  description = "URL of Grafana through the load balancer."
  value       = "https://${aws_lb.this.dns_name}/"
}

output "zone_id" {
  description = "Route 53 zone ID of the load balancer (for an alias record)."
  value       = aws_lb.this.zone_id
}

output "target_group_arn" {
  description = "ARN of the Grafana target group."
  value       = aws_lb_target_group.this.arn
}

output "listeners" {
  description = "The two listeners (port, protocol, what they do), for tests and reviews: 443 serves HTTPS with the certificate, 80 only redirects to it."
  value = {
    http = {
      port        = aws_lb_listener.http.port
      protocol    = aws_lb_listener.http.protocol
      action      = aws_lb_listener.http.default_action[0].type
      redirect_to = "${aws_lb_listener.http.default_action[0].redirect[0].protocol}:${aws_lb_listener.http.default_action[0].redirect[0].port}"
    }
    https = {
      port            = aws_lb_listener.https.port
      protocol        = aws_lb_listener.https.protocol
      certificate_arn = aws_lb_listener.https.certificate_arn
      action          = aws_lb_listener.https.default_action[0].type
    }
  }
}

output "target_protocol" {
  description = "Protocol the load balancer speaks to Grafana."
  value       = aws_lb_target_group.this.protocol
}

output "health_check_protocol" {
  description = "Protocol of the target group's health check."
  value       = aws_lb_target_group.this.health_check[0].protocol
}

output "protection" {
  description = "Deletion protection and access logs of the load balancer, for tests and reviews."
  value = {
    deletion_protection = aws_lb.this.enable_deletion_protection
    access_logs         = [for l in aws_lb.this.access_logs : { bucket = l.bucket, prefix = l.prefix, enabled = l.enabled }]
  }
}
