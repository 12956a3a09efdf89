# One Debian machine booted with systemd-nspawn from the shared base image of
# its release, and its data directory on the lab host.

# The host's data directory (the lab's data volume): its own resource, so
# that replacing the machine (a new os, key, address; `up --replace`) keeps
# it. Only destroying the host (obsctl destroy, or the host removed from the
# env file) removes it, with its data.
resource "terraform_data" "data" {
  input = {
    env    = var.environment
    name   = var.name
    script = var.script
    root   = var.root_dir
    paths  = join(" ", var.data_paths)
  }

  provisioner "local-exec" {
    command = "${self.input.script} data-up"
    environment = {
      LAB_ROOT       = self.input.root
      LAB_ENV        = self.input.env
      LAB_NAME       = self.input.name
      LAB_DATA_PATHS = self.input.paths
    }
  }

  provisioner "local-exec" {
    when    = destroy
    command = "${self.input.script} data-down"
    environment = {
      LAB_ROOT = self.input.root
      LAB_ENV  = self.input.env
      LAB_NAME = self.input.name
    }
  }
}

resource "terraform_data" "machine" {
  input = {
    # Read through the data resource: the machine is created after its data
    # directory and destroyed before it.
    data_paths = terraform_data.data.output.paths
    env        = var.environment
    os         = var.os
    name       = var.name
    address    = var.address
    prefix     = var.prefix
    gateway    = var.gateway
    bridge     = var.bridge
    pubkey     = var.ssh_public_key_file
    script     = var.script
    root       = var.root_dir
    # lab.sh copies the machine's public host key here when it creates the
    # machine (outside the machine's own filesystem, with its other files):
    # the key published in the contract, which obsctl pins.
    host_key = "${var.root_dir}/envs/${var.environment}/machines/${var.name}/ssh_host_ed25519_key.pub"
  }

  # A new key, address or release means a new machine.
  triggers_replace = [var.address, var.bridge, var.os, filesha256(var.ssh_public_key_file)]

  provisioner "local-exec" {
    command = "${self.input.script} machine-up"
    environment = {
      LAB_ROOT        = self.input.root
      LAB_ENV         = self.input.env
      LAB_OS          = self.input.os
      LAB_NAME        = self.input.name
      LAB_ADDRESS     = self.input.address
      LAB_PREFIX      = self.input.prefix
      LAB_GATEWAY     = self.input.gateway
      LAB_BRIDGE      = self.input.bridge
      LAB_PUBKEY_FILE = self.input.pubkey
      LAB_HOST_KEY    = self.input.host_key
      LAB_DATA_PATHS  = self.input.data_paths
    }
  }

  provisioner "local-exec" {
    when    = destroy
    command = "${self.input.script} machine-down"
    environment = {
      LAB_ROOT     = self.input.root
      LAB_ENV      = self.input.env
      LAB_NAME     = self.input.name
      LAB_HOST_KEY = self.input.host_key
    }
  }
}
