"""Reading a cloud's figures with openstacksdk, one part at a time (figures.PARTS). A part that fails
(a 403 on Neutron's quota details is common, a Cinder that is down) is recorded in
`Snapshot.unknown` and leaves the others: only an authentication failure, or every part failing,
is a CatalogError. catalog.py caches what this reads; `mchub doctor` asks it directly."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from reconciler.cloud.figures import (
    PARTS,
    Flavor,
    Image,
    Network,
    Quota,
    Router,
    Snapshot,
    Subnet,
    VolumeType,
)
from reconciler.cloud.sizing import ordered
from reconciler.model.settings import CloudConfig

ErrorKind = Literal["auth", "forbidden", "unreachable", "config", "request"]
# Ports through which a router has an interface on a subnet (plain, DVR and HA routers).
ROUTER_PORTS = ("network:router_interface", "network:router_interface_distributed",
                "network:ha_router_replicated_interface")  # fmt: skip


class CatalogError(Exception):
    """The catalog (or one part of it) could not be read: bad credentials (auth), credentials the
    cloud does not let read it (forbidden), a cloud that does not answer (unreachable), a clouds.yaml
    problem (config), or a bad question (request)."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        self.kind = kind
        super().__init__(message)


Reader = Callable[[Any, str], dict[str, Any]]  # (connection, project id) -> Snapshot fields


def fetch_snapshot(cloud: CloudConfig, timeout: float = 10.0, concurrent: bool = True) -> Snapshot:
    """Read the cloud's figures now, part by part. Raises CatalogError on an authentication failure
    or when no part could be read."""
    conn = connect(cloud, timeout)
    try:
        project = guard(cloud.name, "authentication", conn.session.get_project_id)
        got = _read_parts(cloud.name, conn, project, concurrent)
    finally:
        conn.close()
    fields: dict[str, Any] = {}
    unknown: dict[str, str] = {}
    for part in PARTS:
        result = got[part]
        if isinstance(result, CatalogError):
            if result.kind == "auth":  # 401: the credentials, not one part
                raise result
            unknown[part] = str(result)
        else:
            quotas = result.pop("quotas", {})
            fields.setdefault("quotas", {}).update(quotas)
            fields |= result
    if len(unknown) == len(PARTS):
        first = got[PARTS[0]]
        assert isinstance(first, CatalogError)
        raise first
    return Snapshot(cloud.name, time.time(), unknown=unknown, **fields)


def _read_parts(cloud: str, conn: Any, project: str, concurrent: bool) -> dict[str, Any]:
    """part -> its fields, or the CatalogError that says why it could not be read."""

    def one(part: str) -> Any:
        try:
            return guard(cloud, part.replace("_", " "), lambda: READERS[part](conn, project))
        except CatalogError as exc:
            return exc

    if not concurrent:
        return {part: one(part) for part in PARTS}
    with ThreadPoolExecutor(len(PARTS), thread_name_prefix=f"catalog-{cloud}") as pool:
        futures = {part: pool.submit(one, part) for part in PARTS}
        return {part: f.result() for part, f in futures.items()}


# -- the parts ---------------------------------------------------------------------------------


def _flavors(conn: Any, project: str) -> dict[str, Any]:
    found = (Flavor(f.name, int(f.vcpus), int(f.ram), int(f.disk or 0), f.id or "")
             for f in conn.compute.flavors(details=True))  # fmt: skip
    return {"flavors": tuple(ordered(found))}


def _images(conn: Any, project: str) -> dict[str, Any]:
    images = (Image(i.name, int(i.min_disk or 0), i.id or "", str(i.status or "active"), i.created_at or "")
              for i in conn.image.images() if i.name)  # fmt: skip
    return {"images": tuple(sorted(images))}


def _networks(conn: Any, project: str) -> dict[str, Any]:
    """Networks with their subnets, and routers with their gateway and the subnets they serve."""
    subnets: dict[str, list[Subnet]] = {}
    for s in conn.network.subnets():
        subnets.setdefault(s.network_id, []).append(
            Subnet(s.id, s.name or "", s.cidr or "", int(s.ip_version or 4), bool(s.is_dhcp_enabled))
        )
    networks = [Network(n.name or n.id, bool(n.is_router_external), n.id or "", bool(n.is_shared),
                        tuple(sorted(subnets.get(n.id, []), key=lambda s: (s.name, s.id))))
                for n in conn.network.networks()]  # fmt: skip
    networks.sort(key=lambda n: (not n.external, n.name))
    interfaces: dict[str, set[str]] = {}
    for owner in ROUTER_PORTS:
        for port in conn.network.ports(device_owner=owner):
            if port.device_owner == owner:  # a cloud that ignores the filter lists every port
                ips = port.fixed_ips or []
                interfaces.setdefault(port.device_id, set()).update(ip["subnet_id"] for ip in ips)
    routers = tuple(Router(r.name or r.id, r.id, (r.external_gateway_info or {}).get("network_id"),
                           tuple(sorted(interfaces.get(r.id, set()))))
                    for r in conn.network.routers())  # fmt: skip
    return {"networks": tuple(networks), "routers": routers}


def _volume_types(conn: Any, project: str) -> dict[str, Any]:
    import openstack.exceptions as sdk

    try:
        default = conn.block_storage.get_type("default").id
    except sdk.SDKException:  # an older Cinder has no /types/default: no type is marked default
        default = None
    types = sorted((VolumeType(t.name, t.description or "", t.id == default)
                    for t in conn.block_storage.types()), key=lambda t: (not t.default, t.name))  # fmt: skip
    return {"volume_types": tuple(types)}


def _compute_quotas(conn: Any, project: str) -> dict[str, Any]:
    # openstacksdk >= 3.3 reads /os-quota-sets/{id}/detail for usage=True (3.0-3.2 sent ?usage=True,
    # which Nova ignores: every usage read 0).
    quota = conn.compute.get_quota_set(project, usage=True)
    usage = quota.usage or {}
    return {"quotas": {k: Quota.of(getattr(quota, k), usage.get(k)) for k in ("instances", "cores", "ram")}}


def _volume_quotas(conn: Any, project: str) -> dict[str, Any]:
    """volumes and gigabytes, and Cinder's per-type quotas (`volumes_<type>`, `gigabytes_<type>`)."""
    quota = conn.block_storage.get_quota_set(project, usage=True)
    usage = quota.usage or {}
    body = quota.to_dict(computed=False)
    keys = ["volumes", "gigabytes"] + sorted(
        k for k in body if k.startswith(("volumes_", "gigabytes_")) and isinstance(body[k], int)
    )
    return {"quotas": {k: Quota.of(body.get(k), usage.get(k)) for k in keys}}


def _network_quotas(conn: Any, project: str) -> dict[str, Any]:
    quota = conn.network.get_quota(project, details=True)
    quotas = {}
    for key, attr in (("floating_ips", "floating_ips"), ("security_groups", "security_groups"),
                      ("security_group_rules", "security_group_rules")):  # fmt: skip
        detail = getattr(quota, attr, None) or {}
        quotas[key] = Quota.of(detail.get("limit"), detail.get("used"))
    return {"quotas": quotas}


READERS: dict[str, Reader] = {
    "flavors": _flavors,
    "images": _images,
    "networks": _networks,
    "volume_types": _volume_types,
    "compute_quotas": _compute_quotas,
    "volume_quotas": _volume_quotas,
    "network_quotas": _network_quotas,
}


# -- connecting, and the SDK's errors in words -------------------------------------------------


def connect(cloud: CloudConfig, timeout: float) -> Any:
    """An openstacksdk connection as clouds.yaml describes the cloud (not yet authenticated)."""
    import keystoneauth1.exceptions as ksa  # imported here: openstacksdk costs ~0.35 s to import
    import openstack.config
    import openstack.connection
    import openstack.exceptions

    if cloud.clouds_yaml is not None and not cloud.clouds_yaml.is_file():
        raise CatalogError("config", f"cloud {cloud.name}: {cloud.clouds_yaml} does not exist")
    files = [str(cloud.clouds_yaml)] if cloud.clouds_yaml else None
    try:
        region = openstack.config.OpenStackConfig(config_files=files).get_one(
            cloud=cloud.name, api_timeout=timeout
        )
        return openstack.connection.Connection(config=region)
    except (openstack.exceptions.ConfigException, ksa.ClientException) as exc:
        where = cloud.clouds_yaml or "clouds.yaml"
        raise CatalogError(
            "config", f"cloud {cloud.name} is not usable as configured in {where}: {exc}"
        ) from None


_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")]+)")


def guard(cloud: str, what: str, fn: Callable[[], Any]) -> Any:
    """Call the SDK, turning its many exceptions into one CatalogError that says what to do."""
    import keystoneauth1.exceptions as ksa
    import openstack.exceptions as sdk

    try:
        return fn()
    except (ksa.ClientException, sdk.SDKException, OSError) as exc:
        raise _classify(cloud, what, exc) from None


def _classify(cloud: str, what: str, exc: Exception) -> CatalogError:
    import keystoneauth1.exceptions as ksa

    code = getattr(exc, "status_code", None) or getattr(exc, "http_status", None)
    if code == 401 or isinstance(exc, (ksa.Unauthorized, ksa.AuthorizationFailure, ksa.MissingAuthPlugin)):
        message = f"authentication to cloud {cloud} failed: check the credentials in clouds.yaml"
        return CatalogError("auth", f"{message} ({_short(exc)})")
    if code == 403:
        return CatalogError("forbidden", f"cloud {cloud} does not let these credentials read {what} (403)")
    if isinstance(exc, ksa.EndpointNotFound):
        return CatalogError("config", f"cloud {cloud} has no endpoint for {what} in its service catalog")
    if isinstance(exc, (ksa.ConnectionError, ksa.DiscoveryFailure)):
        return CatalogError("unreachable", f"cloud {cloud} did not answer: {_short(exc)}")
    if code is not None:
        return CatalogError("unreachable", f"cloud {cloud} answered {code} for {what}: {_short(exc)}")
    return CatalogError("unreachable", f"cloud {cloud} did not answer ({what}): {_short(exc)}")


def _short(exc: BaseException) -> str:
    text = str(exc)
    errno = _ERRNO.search(text)
    if errno:
        url = re.search(r"https?://[^\s:/]+(:\d+)?", text)
        return f"{url.group(0) + ': ' if url else ''}{errno.group(1).strip()}"
    return text if len(text) <= 300 else text[:299] + "…"
