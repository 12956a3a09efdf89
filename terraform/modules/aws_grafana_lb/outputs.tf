output "dns_name" {
  description = "DNS name of the load balancer."
  value       = aws_lb.this.dns_name
}

output "url" {
  description = "URL of Grafana through the load balancer."
  value       = "${local.https ? "https" : "http"}://${aws_lb.this.dns_name}/"
}

output "zone_id" {
  description = "Route 53 zone ID of the load balancer (for an alias record)."
  value       = aws_lb.this.zone_id
}

output "target_group_arn" {
  description = "ARN of the Grafana target group."
  value       = aws_lb_target_group.this.arn
}
