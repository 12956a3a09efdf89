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
