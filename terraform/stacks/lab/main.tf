# The `lab` provider: local Debian machines (of the release var.os names, or a
# host's own `os` during a roll to another release) booted with systemd-nspawn on a
# private bridge. No provider plugin: terraform_data + lab.sh do the work.
locals {
  script = abspath("${path.module}/../../scripts/lab.sh")
  addresses = {
    for name in keys(var.hosts) : name => cidrhost(var.lab.cidr, var.lab.host_numbers[name])
  }
}

module "network" {
  source = "../../modules/lab_network"

  environment = var.environment
  bridge      = var.lab.bridge
  cidr        = var.lab.cidr
  script      = local.script
  root_dir    = var.lab.root_dir
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
