"""The sandbox cloud: a local OpenStack-compatible HTTP API (Keystone, Nova, Glance, Neutron, Cinder)."""
