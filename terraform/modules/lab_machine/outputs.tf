output "address" {
  description = "IPv4 address of the machine."
  value       = terraform_data.machine.output.address
}

output "ssh_host_key" {
  description = "The machine's public SSH host key (`ssh-ed25519 <base64>`) as lab.sh recorded it when it created the machine; null for a machine created before keys were recorded. Read through the resource's `output` so that a new machine's key is read after lab.sh wrote it."
  value       = try(trimspace(file(terraform_data.machine.output.host_key)), null)
}

output "data_dir" {
  description = "The host's data directory on the lab host (kept across a replacement of the machine; removed by destroy)."
  value       = "${terraform_data.data.input.root}/envs/${terraform_data.data.input.env}/data/${terraform_data.data.input.name}"
}
