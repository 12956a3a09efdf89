output "gateway" {
  description = "The host's address on the bridge (apt cache)."
  value       = terraform_data.network.output.gateway
}

output "prefix" {
  description = "Prefix length of the lab network."
  value       = terraform_data.network.output.prefix
}

output "bridge" {
  description = "The bridge machines attach to."
  value       = terraform_data.network.output.bridge
}
