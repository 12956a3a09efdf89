output "address" {
  description = "IPv4 address of the machine."
  value       = terraform_data.machine.output.address
}
