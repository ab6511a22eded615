# The cluster's network side, as Magic Castle's openstack/network-1.tf and network-2.tf (15.6.1)
# build it, at the same addresses: the internal network and subnet, the security groups, one port
# per instance carrying them, floating IPs for `public` hosts.
#
# Security groups per cluster (what the hub's pre-flight counts against the Neutron quotas):
#   groups = 1 ("global") + one per distinct firewall_rules tag that some instance carries
#   rules  = 1 ("all")    + one per firewall_rules entry whose tag some instance carries,
#            plus the 2 egress rules (IPv4, IPv6) Neutron adds to every new group:
#            security_group_rule quota used = rules + 2 x groups.
# With the default firewall_rules (Magic Castle's plus ICMP to the login nodes) and tags
# login/public/proxy, mgmt and node: 3 groups (global, login, proxy) and 5 + 6 = 11 rules.
# reconciler/cloud/secgroups.py counts the same way for the pre-flight.

locals {
  public_hosts = [for host, values in local.instances_to_build : host if contains(values.tags, "public")]
  given_ips    = { for host, ip in var.os_floating_ips : host => ip if contains(local.public_hosts, host) }
  public_ip = merge(
    { for host, fip in openstack_networking_floatingip_v2.fip : host => fip.address },
    local.given_ips,
  )

  # Magic Castle's firewall_rules type with its optional() defaults, spelt out for Terraform 1.0.
  firewall_rules = {
    for name, rule in var.firewall_rules : name => {
      from_port = rule.from_port
      to_port   = rule.to_port
      tag       = rule.tag
      protocol  = lookup(rule, "protocol", "tcp")
      ethertype = lookup(rule, "ethertype", "IPv4")
      cidr      = lookup(rule, "cidr", "0.0.0.0/0")
    }
  }
  all_tags   = toset(flatten([for host, values in local.instances : values.tags]))
  sec_groups = toset([for name, rule in local.firewall_rules : rule.tag if contains(local.all_tags, rule.tag)])
}

# The internal network: the subnet_id's network when given (ports then take their address from
# that subnet, as Magic Castle's do), else the project's only internal network.
data "openstack_networking_subnet_v2" "subnet" {
  count        = var.subnet_id == null ? 0 : 1
  subnet_id    = var.subnet_id
  ip_version   = 4
  dhcp_enabled = true
}

data "openstack_networking_network_v2" "int_network" {
  network_id = var.subnet_id == null ? null : data.openstack_networking_subnet_v2.subnet[0].network_id
  external   = var.subnet_id == null ? false : null
}

data "openstack_networking_network_v2" "ext_network" {
  name     = var.os_ext_network
  external = true
}

resource "openstack_networking_secgroup_v2" "global" {
  name        = "${var.cluster_name}-secgroup"
  description = "${var.cluster_name} global security group"
}

# Everything between the cluster's own instances.
resource "openstack_networking_secgroup_rule_v2" "all" {
  direction         = "ingress"
  ethertype         = "IPv4"
  description       = "internal allow all"
  security_group_id = openstack_networking_secgroup_v2.global.id
  remote_group_id   = openstack_networking_secgroup_v2.global.id
}

resource "openstack_networking_secgroup_v2" "external" {
  for_each    = local.sec_groups
  name        = "${var.cluster_name}-secgroup-${each.key}"
  description = "${var.cluster_name} external security group for ${each.key} instances"
  tags        = [each.key]
}

# Every rule is ForceNew in the provider: changing one rule's cidr replaces that rule only.
resource "openstack_networking_secgroup_rule_v2" "rule" {
  for_each = { for name, rule in local.firewall_rules : name => rule if contains(local.sec_groups, rule.tag) }

  direction         = "ingress"
  ethertype         = each.value.ethertype
  protocol          = each.value.protocol
  port_range_min    = each.value.from_port
  port_range_max    = each.value.to_port
  remote_ip_prefix  = each.value.cidr
  description       = each.key
  security_group_id = openstack_networking_secgroup_v2.external[each.value.tag].id
}

resource "openstack_networking_port_v2" "nic" {
  for_each   = local.instances_to_build
  name       = format("%s-%s-port", var.cluster_name, each.key)
  network_id = data.openstack_networking_network_v2.int_network.id
  security_group_ids = concat(
    [openstack_networking_secgroup_v2.global.id],
    [for tag, group in openstack_networking_secgroup_v2.external : group.id if contains(each.value.tags, tag)],
  )

  # Only with subnet_id: without it Neutron picks the address, and ports built before this
  # module had subnet_id keep theirs (adding a fixed_ip block would re-address them).
  dynamic "fixed_ip" {
    for_each = data.openstack_networking_subnet_v2.subnet
    content {
      subnet_id = fixed_ip.value.id
    }
  }
}

resource "openstack_networking_floatingip_v2" "fip" {
  for_each = toset([for host in local.public_hosts : host if !contains(keys(local.given_ips), host)])
  pool     = data.openstack_networking_network_v2.ext_network.name
}

resource "openstack_networking_floatingip_associate_v2" "fip" {
  for_each    = toset(local.public_hosts)
  floating_ip = local.public_ip[each.key]
  port_id     = openstack_networking_port_v2.nic[each.key].id
}
