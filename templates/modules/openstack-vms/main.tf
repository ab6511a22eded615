# The bundled cluster module: plain OpenStack resources at Magic Castle's addresses (keypair,
# ports, instances <prefix><i>, volumes per tag, floating IPs for `public`, security groups as
# network.tf says), no Puppet. Rendered main.tf files call it as module "openstack", like Magic
# Castle's openstack module.

locals {
  min_disk_size          = 10
  min_disk_size_per_tags = { mgmt = 20 }

  # prefix => { type, tags, count, ... } expands to <prefix><i>, i from 1, as Magic Castle does.
  instances = merge([
    for prefix, attrs in var.instances : {
      for i in range(1, lookup(attrs, "count", 1) + 1) : "${prefix}${i}" => merge(
        { image = var.image },
        { disk_size = max(local.min_disk_size, [for tag in attrs.tags : lookup(local.min_disk_size_per_tags, tag, 0)]...) },
        { for key, value in attrs : key => value if key != "count" },
        { prefix = prefix },
      )
    }
  ]...)

  instances_to_build = {
    for host, values in local.instances : host => values
    if !contains(values.tags, "pool") || contains(var.pool, host)
  }

  # Every instance carrying <tag> gets its own volume <host>-<tag>-<name>.
  volumes = merge([
    for tag, specs in var.volumes : merge([
      for host, values in local.instances_to_build : {
        for name, spec in specs : "${host}-${tag}-${name}" => merge(spec, { instance = host })
      } if contains(values.tags, tag)
    ]...)
  ]...)

  # A flavor whose root disk is smaller than the instance needs boots from a volume.
  boot_volume_size = {
    for host, values in local.instances_to_build : host => values.disk_size
    if values.disk_size > data.openstack_compute_flavor_v2.flavors[values.prefix].disk
  }

  # `image` (or an instance's own) is an image id, used as is, or else a name regex: the newest
  # active image whose name matches, as Magic Castle finds it (Magic Castle takes regexes only).
  uuid_pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
  images       = toset([for host, values in local.instances : values.image])
  image_id = {
    for image in local.images : image =>
    can(regex(local.uuid_pattern, image)) ? image : data.openstack_images_image_v2.image[image].id
  }
}

data "openstack_images_image_v2" "image" {
  for_each    = toset([for image in local.images : image if !can(regex(local.uuid_pattern, image))])
  name_regex  = each.key
  most_recent = true
}

data "openstack_compute_flavor_v2" "flavors" {
  for_each = var.instances
  name     = each.value.type
}

resource "openstack_compute_keypair_v2" "keypair" {
  name       = "${var.cluster_name}-key"
  public_key = var.public_keys[0]
}

resource "openstack_compute_instance_v2" "instances" {
  for_each = local.instances_to_build
  name     = format("%s-%s", var.cluster_name, each.key)
  # By id, as Magic Castle does: the provider's lookup by image_name fails when two images share
  # the name (a newer upload), and an instance booting from a volume takes its image from there.
  image_id    = contains(keys(local.boot_volume_size), each.key) ? null : local.image_id[each.value.image]
  flavor_name = each.value.type
  key_pair    = openstack_compute_keypair_v2.keypair.name
  metadata = {
    cluster_name = var.cluster_name
    prefix       = each.value.prefix
    tags         = join(",", each.value.tags)
  }

  network {
    port = openstack_networking_port_v2.nic[each.key].id
  }

  dynamic "block_device" {
    for_each = contains(keys(local.boot_volume_size), each.key) ? [local.boot_volume_size[each.key]] : []
    content {
      uuid                  = local.image_id[each.value.image]
      source_type           = "image"
      destination_type      = "volume"
      boot_index            = 0
      delete_on_termination = true
      volume_size           = block_device.value
      volume_type           = lookup(each.value, "disk_type", null)
    }
  }

  lifecycle {
    # A newer upload of the same image name, or another image in the spec, must not rebuild
    # (re-image) running instances: new instances get it, as with Magic Castle.
    ignore_changes = [image_id, block_device[0].uuid]
  }
}

resource "openstack_blockstorage_volume_v3" "volumes" {
  for_each    = local.volumes
  name        = "${var.cluster_name}-${each.key}"
  description = "${var.cluster_name} ${each.key}"
  size        = each.value.size
  volume_type = lookup(each.value, "type", null)
  # Magic Castle's `enable_resize`, on by default here (Magic Castle's default is false; the hub
  # renders it explicitly for every volume, so both modules get the same value): growing an
  # attached volume otherwise fails ("resizing online is disabled"). Needs Cinder's
  # microversion 3.42 (Pike and later).
  enable_online_resize = lookup(each.value, "enable_resize", true)
}

resource "openstack_compute_volume_attach_v2" "attachments" {
  for_each    = local.volumes
  instance_id = openstack_compute_instance_v2.instances[each.value.instance].id
  volume_id   = openstack_blockstorage_volume_v3.volumes[each.key].id
}
