"""Nova v2.1 beside the servers and flavors: version documents, keypairs, limits and quota sets
(with detail), availability zones."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sandbox.cloud import quota, sshkeys
from sandbox.cloud.faults import Faults
from sandbox.cloud.nova_model import MAX_VERSION, MIN_VERSION, V21, reply, version
from sandbox.cloud.store import Store
from sandbox.cloud.web import CloudError, Record, host_url, is_paged, iso, read_json

COMPUTE_QUOTAS = ("instances", "cores", "ram", "key_pairs")
FIXED_QUOTAS = {"metadata_items": 128, "server_groups": 10, "server_group_members": 10}


def fingerprint(public_key: str) -> str:
    """MD5 fingerprint as Nova computes it; 400 for a key it cannot parse (sshkeys.parse's rules)."""
    try:
        return sshkeys.fingerprint(public_key)
    except sshkeys.InvalidKey as exc:
        raise CloudError(400, "Keypair data is invalid: failed to generate fingerprint") from exc


def generate_keypair() -> tuple[str, str]:
    """(private key PEM, public key) for a keypair created without a public key (before 2.92)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH).decode()
    return private, public + " Generated-by-Nova"


class NovaCatalog:
    """Routes under /compute that are not about servers."""

    def __init__(self, store: Store, faults: Faults) -> None:
        self.store, self.faults = store, faults

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/compute", self.versions, methods=["GET"]),
            Route("/compute/", self.versions, methods=["GET"]),
            Route(V21, self.version_doc, methods=["GET"]),
            Route(V21 + "/", self.version_doc, methods=["GET"]),
            Route(V21 + "/os-keypairs", self.keypairs, methods=["GET", "POST"]),
            Route(V21 + "/os-keypairs/{name}", self.keypair, methods=["GET", "DELETE"]),
            Route(V21 + "/limits", self.limits, methods=["GET"]),
            Route(V21 + "/os-quota-sets/{project_id}", self.quota_set, methods=["GET"]),
            Route(V21 + "/os-quota-sets/{project_id}/detail", self.quota_set, methods=["GET"]),
            Route(V21 + "/os-quota-sets/{project_id}/defaults", self.quota_set, methods=["GET"]),
            Route(V21 + "/os-availability-zone", self.zones, methods=["GET"]),
        ]

    def _version(self, request: Request) -> Record:
        return {"id": "v2.1", "status": "CURRENT", "version": MAX_VERSION, "min_version": MIN_VERSION,
                "updated": "2013-07-23T11:33:21Z",
                "links": [{"rel": "self", "href": host_url(request) + V21 + "/"},
                          {"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"}],
                "media-types": [{"base": "application/json",
                                 "type": "application/vnd.openstack.compute+json;version=2.1"}]}

    async def versions(self, request: Request) -> Response:
        return JSONResponse({"versions": [self._version(request)]})

    async def version_doc(self, request: Request) -> Response:
        return JSONResponse({"version": self._version(request)})

    # -- keypairs --------------------------------------------------------------------------
    def _keypair(self, pair: Record, full: bool) -> Record:
        body: Record = {"name": pair["name"], "public_key": pair["public_key"],
                        "fingerprint": pair["fingerprint"], "type": pair["type"]}
        if full:
            body.update(user_id=self.store.identity["user_id"], id=pair["number"],
                        created_at=iso(pair["created"]), deleted=False, deleted_at=None, updated_at=None)
        return body

    async def keypairs(self, request: Request) -> Response:
        if request.method == "GET":
            with self.store.lock:
                pairs = [] if is_paged(request) else list(self.store.table("keypairs").values())
                return reply(request, {"keypairs": [{"keypair": self._keypair(p, False)} for p in pairs]})
        body = await read_json(request, "keypair")
        name, public_key = body.get("name"), body.get("public_key")
        if not isinstance(name, str) or not name.strip() or len(name) > 255:
            raise CloudError(400, f"Invalid input for field/attribute name. Value: {name!r}.")
        private = None
        if public_key is None:
            if version(request) >= (2, 92):
                raise CloudError(400, "Invalid input for field/attribute keypair. "
                                      "'public_key' is a required property")
            private, public_key = generate_keypair()
        with self.store.change():
            if self.store.get("keypairs", name) is not None:
                raise CloudError(409, f"Key pair '{name}' already exists.")
            if quota.overs(self.store, self.faults, {"key_pairs": 1}):
                raise CloudError(403, "Maximum number of key pairs exceeded")
            pair = self.store.put("keypairs", {
                "id": name, "name": name, "public_key": str(public_key),
                "fingerprint": fingerprint(str(public_key)), "type": body.get("type", "ssh"),
                "created": time.time(), "number": len(self.store.table("keypairs")) + 1})
            result = self._keypair(pair, False) | {"user_id": self.store.identity["user_id"]}
        if private is not None:
            result["private_key"] = private
        return reply(request, {"keypair": result}, 201 if version(request) >= (2, 2) else 200)

    async def keypair(self, request: Request) -> Response:
        name = request.path_params["name"]
        with self.store.change():
            pair = self.store.get("keypairs", name)
            if pair is None:
                raise CloudError(404, f"Keypair {name} not found for user {self.store.identity['user_id']}")
            if request.method == "GET":
                return reply(request, {"keypair": self._keypair(pair, True)})
            self.store.remove("keypairs", name)
        return reply(request, None, 204 if version(request) >= (2, 2) else 202)

    # -- limits and quotas -----------------------------------------------------------------
    async def limits(self, request: Request) -> Response:
        with self.store.lock:
            table = quota.view(self.store, self.faults)
        absolute: Record = {
            "maxTotalInstances": table["instances"]["limit"],
            "totalInstancesUsed": table["instances"]["in_use"],
            "maxTotalCores": table["cores"]["limit"], "totalCoresUsed": table["cores"]["in_use"],
            "maxTotalRAMSize": table["ram"]["limit"], "totalRAMUsed": table["ram"]["in_use"],
            "maxTotalKeypairs": table["key_pairs"]["limit"], "maxServerMeta": 128, "maxImageMeta": 128,
            "maxServerGroups": 10, "maxServerGroupMembers": 10, "totalServerGroupsUsed": 0,
        }
        if version(request) < (2, 36):
            absolute.update(maxTotalFloatingIps=table["floatingip"]["limit"],
                            totalFloatingIpsUsed=table["floatingip"]["in_use"],
                            maxSecurityGroups=table["security_group"]["limit"],
                            totalSecurityGroupsUsed=table["security_group"]["in_use"],
                            maxSecurityGroupRules=table["security_group_rule"]["limit"])
        if version(request) < (2, 57):
            absolute.update(maxPersonality=5, maxPersonalitySize=10240)
        return reply(request, {"limits": {"rate": [], "absolute": absolute}})

    async def quota_set(self, request: Request) -> Response:
        with self.store.lock:
            table = quota.view(self.store, self.faults)
        path = request.url.path
        detail = path.endswith("/detail")
        quota_set: Record = {} if detail else {"id": request.path_params["project_id"]}
        entries = {name: table[name] for name in COMPUTE_QUOTAS}
        entries |= {name: {"limit": limit, "in_use": 0} for name, limit in FIXED_QUOTAS.items()}
        if version(request) < (2, 57):
            legacy = (("injected_files", 5), ("injected_file_content_bytes", 10240),
                      ("injected_file_path_bytes", 255))
            entries |= {n: {"limit": v, "in_use": 0} for n, v in legacy}
        for name, entry in entries.items():
            quota_set[name] = ({"limit": entry["limit"], "in_use": entry["in_use"], "reserved": 0}
                               if detail else entry["limit"])
        if detail:
            quota_set["id"] = request.path_params["project_id"]
        return reply(request, {"quota_set": quota_set})

    async def zones(self, request: Request) -> Response:
        return reply(request, {"availabilityZoneInfo": [{"zoneName": "nova", "zoneState": {"available": True},
                                                         "hosts": None}]})
