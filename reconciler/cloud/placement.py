"""The subnet a cluster goes on, for main.tf (Hub.subnet). Magic Castle takes only `subnet_id`, an
id: when the cloud's settings name a `network` (or a `subnet` by name), the engine renders the id
network discovery (networks.py) finds for it in the catalog's figures. A cloud that set neither
gets no subnet_id: the module takes the project's only internal network."""

from __future__ import annotations

import logging
from collections.abc import Callable

from reconciler.cloud.catalog import Catalog, CatalogError
from reconciler.cloud.networks import discover
from reconciler.model.settings import CloudConfig

log = logging.getLogger(__name__)

SubnetPicker = Callable[[CloudConfig], str | None]


def make_subnet_picker(catalog: Catalog) -> SubnetPicker:
    """cloud -> the id of the subnet its settings point at, or None when they point at none or the
    catalog cannot tell (the engine then renders `subnet` as the settings give it)."""

    def picker(cloud: CloudConfig) -> str | None:
        if cloud.network is None and cloud.subnet is None:
            return None
        try:
            snapshot = catalog.get(cloud.name)
        except CatalogError as exc:
            log.warning("subnet of cloud %s not resolved: %s", cloud.name, exc)
            return None
        if not snapshot.has_figures or "networks" in snapshot.unknown:
            return None
        placement = discover(cloud, snapshot.networks)
        return placement.subnet.id if placement.subnet is not None else None

    return picker
