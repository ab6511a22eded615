# Magic Castle's outputs, same names and shapes where the bundled module has the data
# (no host keys: it generates none).

locals {
  bastion_tags = length(var.bastion_tags) > 0 ? var.bastion_tags : distinct([
    for name, rule in var.firewall_rules : rule.tag
    if lookup(rule, "from_port", 0) <= 22 && 22 <= lookup(rule, "to_port", 0)
  ])

  public_instances = {
    for host in local.public_hosts : host => {
      public_ip = lookup(local.public_ip, host, "")
      local_ip  = openstack_networking_port_v2.nic[host].all_fixed_ips[0]
      prefix    = local.instances_to_build[host].prefix
      tags      = local.instances_to_build[host].tags
      id        = openstack_compute_instance_v2.instances[host].id
      specs = {
        cpus = data.openstack_compute_flavor_v2.flavors[local.instances_to_build[host].prefix].vcpus
        ram  = data.openstack_compute_flavor_v2.flavors[local.instances_to_build[host].prefix].ram
        gpus = 0
      }
    }
  }
}

output "public_instances" {
  value = local.public_instances
}

output "bastions" {
  value = {
    for host, values in local.public_instances : host => values
    if length(setintersection(values.tags, local.bastion_tags)) > 0
  }
}

output "public_ip" {
  value = { for host, values in local.public_instances : host => values.public_ip if values.public_ip != "" }
}

output "cluster_name" {
  value = lower(var.cluster_name)
}

output "domain" {
  value = lower(var.domain)
}

output "accounts" {
  sensitive = true
  value = {
    guests = {
      usernames = var.nb_users != 0 ? (
        "user[${format(format("%%0%dd", length(tostring(var.nb_users))), 1)}-${var.nb_users}]"
        ) : (
        "You have chosen to create user accounts yourself (`nb_users = 0`), please read the documentation on how to manage this at https://github.com/ComputeCanada/magic_castle/blob/main/docs/README.md#103-add-a-user-account"
      )
      password = var.guest_passwd
    }
    sudoer = {
      username = var.sudoer_username
      password = "N/A (public ssh-key auth)"
    }
  }
}
