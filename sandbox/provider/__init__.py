"""A stand-in for the OpenStack Terraform provider (terraform-provider-openstack/openstack),
written with the `tf` package and speaking plain HTTP to any OpenStack API (the sandbox cloud).

Terraform finds it through the filesystem mirror built by `sandbox.mirror`.
"""
