"""The stand-in OpenStack provider: its block schema, its credentials, and the resource and
data source types it serves under the real provider's names (`openstack_*`).
"""

from __future__ import annotations

import threading
from typing import Any

from tf.schema import Schema
from tf.types import Unknown

from sandbox.provider import compute, data, instance, network, secgroup, volume
from sandbox.provider.client import Cloud, CloudError
from sandbox.provider.credentials import ENVIRONMENT, Credentials, CredentialsError, resolve
from sandbox.provider.framework import BOOL, NUM, optional

PROVIDER_ADDRESS = "registry.terraform.io/terraform-provider-openstack/openstack"
SECRETS = {"password", "token", "application_credential_secret"}


class OpenStackProvider:
    """What `tf.runner.run_provider` serves; one instance per provider process."""

    def __init__(self) -> None:
        self._credentials: Credentials | None = None
        self._cloud: Cloud | None = None
        self._lock = threading.Lock()

    def get_model_prefix(self) -> str:
        return "openstack_"

    def full_name(self) -> str:
        return PROVIDER_ADDRESS

    def get_provider_schema(self, diags: Any) -> Schema:
        names = ["cloud", *ENVIRONMENT]
        strings = [optional(n, sensitive=n in SECRETS) for n in names if n != "insecure"]
        return Schema(attributes=[*strings, optional("insecure", BOOL), optional("max_retries", NUM)])

    def validate_config(self, diags: Any, config: dict[str, Any]) -> None:
        pass

    def configure_provider(self, diags: Any, config: dict[str, Any]) -> None:
        block = {k: v for k, v in config.items() if v is not None and v is not Unknown}
        try:
            self._credentials = resolve(block)
        except CredentialsError as exc:
            diags.add_error(f"Invalid OpenStack provider configuration: {exc}", str(exc))
        except Exception as exc:  # a malformed clouds.yaml entry, say: a diagnostic, not a gRPC error
            diags.add_error(f"Invalid OpenStack provider configuration: {type(exc).__name__}: {exc}")

    def cloud(self) -> Cloud:
        """The session, created on first use: a plan that calls nothing does not log in."""
        with self._lock:
            if self._cloud is None:
                if self._credentials is None:
                    raise CloudError("The OpenStack provider is not configured")
                self._cloud = Cloud(self._credentials)
            return self._cloud

    def get_data_sources(self) -> list[type]:
        return [data.Network, data.Subnet, data.Image, data.Flavor]

    def get_resources(self) -> list[type]:
        return [compute.Keypair, instance.Instance, compute.VolumeAttach, volume.Volume, network.Port,
                network.FloatingIP, network.FloatingIPAssociate, secgroup.SecGroup, secgroup.SecGroupRule]

    def get_functions(self) -> list[type]:
        return []

    def new_resource(self, klass: type) -> Any:
        return klass(self)

    def new_data_source(self, klass: type) -> Any:
        return klass(self)

    def new_function(self, klass: type) -> Any:
        return klass(self)
