# The `lab` provider: local Debian machines (of the release var.os names, or a
# host's own `os` during a roll to another release) booted with systemd-nspawn on a
# private bridge. No provider plugin: terraform_data + lab.sh do the work.
locals {
  script = abspath("${path.module}/../../scripts/lab.sh")
  addresses = {
    for name in keys(var.hosts) : name => cidrhost(var.lab.cidr, var.lab.host_numbers[name])
  }
  # The jump machine, when the environment has one (`[lab] bastion = true`).
  bastion_address = var.lab.bastion == null ? null : cidrhost(var.lab.cidr, var.lab.bastion.number)
}

module "network" {
  source = "../../modules/lab_network"

  environment = var.environment
  bridge      = var.lab.bridge
  cidr        = var.lab.cidr
  script      = local.script
  root_dir    = var.lab.root_dir
  # With a bastion, the lab host may open connections on the bridge to it
  # only (the shape of private hosts, as on aws).
  bastion = local.bastion_address
}

module "machine" {
  source   = "../../modules/lab_machine"
  for_each = var.hosts

  environment         = var.environment
  os                  = coalesce(each.value.os, var.os)
  name                = each.key
  address             = local.addresses[each.key]
  prefix              = module.network.prefix
  gateway             = module.network.gateway
  bridge              = module.network.bridge
  ssh_public_key_file = var.ssh_public_key_file
  script              = local.script
  root_dir            = var.lab.root_dir
  data_paths          = var.lab.data_paths
}

# The bastion (issue 32): a machine with no role, not a host of the
# inventory; the contract's ssh.bastion. Every SSH connection and every HTTP
# call of obsctl jumps through it (src/tools/ssh/, src/tools/tunnel.rs).
module "bastion" {
  source = "../../modules/lab_machine"
  count  = local.bastion_address == null ? 0 : 1

  environment         = var.environment
  os                  = var.os
  name                = var.lab.bastion.name
  address             = local.bastion_address
  prefix              = module.network.prefix
  gateway             = module.network.gateway
  bridge              = module.network.bridge
  ssh_public_key_file = var.ssh_public_key_file
  script              = local.script
  root_dir            = var.lab.root_dir
}
