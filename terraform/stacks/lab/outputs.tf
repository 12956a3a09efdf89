output "obsctl_inventory" {
  description = "The inventory contract (schema 1) obsctl turns into an Ansible inventory."
  value = {
    schema      = 1
    environment = var.environment
    hosts = {
      for name, host in var.hosts : name => {
        address         = module.machine[name].address
        private_address = module.machine[name].address
        ssh_user        = "root"
        ssh_port        = 22
        roles           = host.roles
        labels          = { zone = "lab", provider = "lab" }
        ssh_host_key    = module.machine[name].ssh_host_key
      }
    }
    ssh = {
      private_key_file = var.ssh_private_key_file
      bastion          = local.bastion_address == null ? null : "root@${local.bastion_address}"
      bastion_host_key = local.bastion_address == null ? null : module.bastion[0].ssh_host_key
    }
  }
}
