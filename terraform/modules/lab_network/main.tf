# The bridge and the apt cache the lab machines of one environment share.
resource "terraform_data" "network" {
  input = {
    env     = var.environment
    bridge  = var.bridge
    gateway = cidrhost(var.cidr, 1)
    prefix  = split("/", var.cidr)[1]
    script  = var.script
    root    = var.root_dir
  }

  provisioner "local-exec" {
    command = "${self.input.script} net-up"
    environment = {
      LAB_ROOT    = self.input.root
      LAB_ENV     = self.input.env
      LAB_BRIDGE  = self.input.bridge
      LAB_GATEWAY = self.input.gateway
      LAB_PREFIX  = self.input.prefix
    }
  }

  provisioner "local-exec" {
    when    = destroy
    command = "${self.input.script} net-down"
    environment = {
      LAB_ROOT   = self.input.root
      LAB_ENV    = self.input.env
      LAB_BRIDGE = self.input.bridge
    }
  }
}

# The isolation of a lab with a bastion (issue 32): the shape of private
# hosts, so that the path through the bastion is the only one and is what
# the lab tests. Its own resource, so that turning the bastion on or off in
# a running environment adds or removes only this; net-down removes the
# table too (a run killed before this resource's destroy leaves none).
resource "terraform_data" "isolation" {
  count = var.bastion == null ? 0 : 1

  input = {
    env     = terraform_data.network.output.env
    cidr    = var.cidr
    gateway = terraform_data.network.output.gateway
    bastion = var.bastion
    script  = var.script
    root    = var.root_dir
  }

  provisioner "local-exec" {
    command = "${self.input.script} isolate"
    environment = {
      LAB_ROOT    = self.input.root
      LAB_ENV     = self.input.env
      LAB_CIDR    = self.input.cidr
      LAB_GATEWAY = self.input.gateway
      LAB_BASTION = self.input.bastion
    }
  }

  provisioner "local-exec" {
    when    = destroy
    command = "${self.input.script} unisolate"
    environment = {
      LAB_ROOT = self.input.root
      LAB_ENV  = self.input.env
    }
  }
}
