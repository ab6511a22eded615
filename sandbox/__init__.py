"""The embedded sandbox: a local OpenStack-compatible cloud and a stand-in OpenStack Terraform provider,
so the hub runs its whole job on a machine with no cloud account."""
