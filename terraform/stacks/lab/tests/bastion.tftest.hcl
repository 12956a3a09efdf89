# The lab's bastion (issue 32; `[lab] bastion = true`), planned offline
# (tests/static/terraform.sh): the jump machine exists only when asked for,
# the contract names it, and a number or name that clashes with a host's is
# refused. The live run is tests/e2e/checks/lab-jump.sh.
variables {
  environment          = "jump"
  hosts                = { "mon-1" = { roles = ["prometheus", "alertmanager"] } }
  ports                = { prometheus_port = 9090, alertmanager_port = 9093, alertmanager_cluster_port = 9094, node_exporter_port = 9100, grafana_http_port = 3000, grafana_alerting_ha_port = 9095, loki_http_port = 3100, loki_grpc_port = 9096, loki_memberlist_port = 7946, alloy_http_port = 12345, promtail_http_port = 9080, app_port = 8080, loki_backend_port = 3101, alloy_backend_port = 12346, promtail_backend_port = 9081 }
  components           = ["prometheus", "alertmanager"]
  ssh_public_key_file  = "../aws/tests/id_ed25519.pub"
  ssh_private_key_file = "/nonexistent/id_ed25519"
  lab                  = { bridge = "obs-jump", cidr = "10.92.0.0/24", host_numbers = { "mon-1" = 10 } }
}

run "no_bastion" {
  command = plan

  assert {
    condition     = length(module.bastion) == 0 && output.obsctl_inventory.ssh.bastion == null
    error_message = "without lab.bastion there is no jump machine and the contract names none"
  }
}

run "bastion" {
  command = plan

  variables {
    lab = { bridge = "obs-jump", cidr = "10.92.0.0/24", host_numbers = { "mon-1" = 10 }, bastion = { name = "bastion", number = 9 } }
  }

  assert {
    condition     = length(module.bastion) == 1 && length(module.machine) == 1
    error_message = "lab.bastion adds one machine besides the hosts"
  }

  assert {
    condition     = output.obsctl_inventory.ssh.bastion == "root@10.92.0.9"
    error_message = "the contract's ssh.bastion is root@ the bastion's address (number 9 of the CIDR)"
  }

  assert {
    condition     = !contains(keys(output.obsctl_inventory.hosts), "bastion")
    error_message = "the bastion is not a host of the inventory"
  }
}

run "bastion_number_of_a_host" {
  command = plan

  variables {
    lab = { bridge = "obs-jump", cidr = "10.92.0.0/24", host_numbers = { "mon-1" = 10 }, bastion = { name = "bastion", number = 10 } }
  }

  expect_failures = [var.lab]
}

run "bastion_name_of_a_host" {
  command = plan

  variables {
    hosts = { "bastion" = { roles = ["prometheus", "alertmanager"] } }
    lab   = { bridge = "obs-jump", cidr = "10.92.0.0/24", host_numbers = { "bastion" = 10 }, bastion = { name = "bastion", number = 9 } }
  }

  expect_failures = [var.lab]
}
