# The bundled module's requirements: any Terraform from 1.0, and the OpenStack provider (the real
# one on a real cloud, the stand-in from the sandbox mirror otherwise).
terraform {
  required_version = ">= 1.0"
  required_providers {
    openstack = {
      source  = "terraform-provider-openstack/openstack"
      version = ">= 1.50.0"
    }
  }
}
