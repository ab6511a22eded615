# The bundled module's requirements: any Terraform from 1.0, and the OpenStack provider 3.x from
# 3.1.0 (the real one on a real cloud, the stand-in from the sandbox mirror otherwise). From 3.1.0
# a volume_type change retypes the volume in place; before, it replaced the volume and its data.
terraform {
  required_version = ">= 1.0"
  required_providers {
    openstack = {
      source  = "terraform-provider-openstack/openstack"
      version = ">= 3.1.0, < 4.0.0"
    }
  }
}
