"""A stand-in for the OpenStack Terraform provider (terraform-provider-openstack/openstack),
written with the `tf` package and speaking plain HTTP to any OpenStack API (the sandbox cloud).

It plans and refreshes as the real provider's release `VERSION` does (its schemas are recorded in
tests/data/openstack_provider_schema.json); Terraform finds it through the mirror of `sandbox.mirror`.
"""

VERSION = "3.4.0"
