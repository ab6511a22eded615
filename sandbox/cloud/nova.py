"""Nova v2.1 servers for the sandbox: create, list, show, update, delete, metadata and volume
attachments; actions are nova_actions', flavors nova_flavors', the rest nova_catalog's."""

from __future__ import annotations

import secrets
import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from sandbox.cloud import cinder, nova_actions, nova_catalog, nova_flavors
from sandbox.cloud import nova_model as model
from sandbox.cloud.faults import Faults
from sandbox.cloud.nova_model import V21, reply
from sandbox.cloud.store import Store
from sandbox.cloud.web import CloudError, Record, is_paged, links, name_matches, new_id, read_json

S = V21 + "/servers"
SETTLED = ("ACTIVE", "SHUTOFF")


class Nova:
    """Routes under /compute."""

    def __init__(self, store: Store, faults: Faults) -> None:
        self.store, self.faults = store, faults

    def routes(self) -> list[BaseRoute]:
        return [
            *nova_catalog.NovaCatalog(self.store, self.faults).routes(),
            *nova_flavors.NovaFlavors(self.store).routes(),
            Route(S, self.servers, methods=["GET", "POST"]),
            Route(S + "/detail", self.servers, methods=["GET"]),
            Route(S + "/{server_id}", self.server, methods=["GET", "PUT", "DELETE"]),
            Route(S + "/{server_id}/action", self.action, methods=["POST"]),
            Route(S + "/{server_id}/metadata", self.metadata, methods=["GET", "POST", "PUT"]),
            Route(S + "/{server_id}/metadata/{key}", self.metadata_item, methods=["GET", "PUT", "DELETE"]),
            Route(S + "/{server_id}/os-volume_attachments", self.attachments, methods=["GET", "POST"]),
            Route(S + "/{server_id}/os-volume_attachments/{volume_id}", self.attachment,
                  methods=["GET", "DELETE"]),
        ]

    # -- servers ---------------------------------------------------------------------------
    async def servers(self, request: Request) -> Response:
        if request.method == "POST":
            return await self._create(request)
        params = request.query_params
        with self.store.lock:
            found = [] if is_paged(request) else list(self.store.table("servers").values())
            if "name" in params:
                found = [s for s in found if name_matches(s["name"], params["name"])]
            if "status" in params:
                found = [s for s in found if model.status_of(s) == params["status"].upper()]
            found.sort(key=lambda s: s["created"], reverse=True)  # Nova lists newest first
            if request.url.path.endswith("/detail"):
                details = [model.render_server(self.store, s, request) for s in found]
                return reply(request, {"servers": details})
            return reply(request, {"servers": [{"id": s["id"], "name": s["name"],
                                                "links": links(request, f"{S}/{s['id']}")} for s in found]})

    async def _create(self, request: Request) -> Response:
        body = await read_json(request, "server")
        name = body.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 255:
            raise CloudError(400, f"Invalid input for field/attribute name. Value: {name!r}.")
        with self.store.change():
            store = self.store
            flavor = model.find_flavor(store, body.get("flavorRef"))
            if flavor is None:
                raise CloudError(400, "Invalid flavorRef provided.")
            image_id = str(body.get("imageRef") or "").rstrip("/").rsplit("/", 1)[-1]
            if image_id:
                model.check_image(store, image_id)
            bdms = body.get("block_device_mapping_v2") or []
            if not isinstance(bdms, list):
                raise CloudError(400, "Invalid input for field/attribute block_device_mapping_v2.")
            if not image_id and not any(str(b.get("boot_index")) == "0" for b in bdms if isinstance(b, dict)):
                raise CloudError(400, "Missing imageRef attribute")
            key_name = body.get("key_name")
            if key_name and store.get("keypairs", key_name) is None:
                raise CloudError(400, "Invalid key_name provided.")
            networks = self._networks(body.get("networks", "auto"))
            group_names = [g.get("name") for g in body.get("security_groups") or [{"name": "default"}]]
            group_ids = [self._security_group(name) for name in group_names]
            model.compute_quota_error(store, self.faults, {"instances": 1, "cores": flavor["vcpus"],
                                                           "ram": flavor["ram"]})
            server: Record = {
                "id": new_id(), "name": name, "flavor": dict(flavor), "old_flavor": None,
                "image_id": image_id, "key_name": key_name, "metadata": dict(body.get("metadata") or {}),
                "ports": [], "own_ports": [], "volumes": [], "status": "BUILD", "pending": None,
                "fault": None, "created": time.time(), "updated": time.time(),
                "access_ipv4": str(body.get("accessIPv4") or ""), "description": body.get("description"),
                "security_groups": group_names, "bdms": bdms,
            }
            model.build(store, self.faults, server, networks, group_ids)
            return reply(request, {"server": {
                "id": server["id"], "links": links(request, f"{S}/{server['id']}"),
                "OS-DCF:diskConfig": "MANUAL", "security_groups": [{"name": n} for n in group_names],
                "adminPass": secrets.token_urlsafe(9)}}, 202)

    def _security_group(self, name: str) -> str:
        """A security group id from the name (or id) in a server create request."""
        for group in self.store.table("security_groups").values():
            if name in (group["name"], group["id"]):
                return str(group["id"])
        raise CloudError(400, f"Security group {name} not found for project {self.store.project_id}.")

    def _networks(self, requested: object) -> list[Record]:
        """networks=[{uuid}|{port}], or "auto" (the first private network) or "none"."""
        store = self.store
        if requested == "none":
            return []
        if requested == "auto" or requested is None:
            private = [n for n in store.table("networks").values() if not n["router:external"]]
            return [{"uuid": private[0]["id"]}] if private else []
        if not isinstance(requested, list):
            raise CloudError(400, f"Invalid input for field/attribute networks. Value: {requested!r}.")
        for net in requested:
            if not isinstance(net, dict):
                raise CloudError(400, f"Invalid input for field/attribute networks. Value: {net!r}.")
            if net.get("port"):
                port = store.get("ports", str(net["port"]))
                if port is None:
                    raise CloudError(400, f"Port id {net['port']} could not be found.")
                if port["device_id"]:
                    raise CloudError(409, f"Port {port['id']} is still in use.")
            elif store.get("networks", str(net.get("uuid"))) is None:
                raise CloudError(400, f"Network {net.get('uuid')} could not be found.")
        return list(requested)

    async def server(self, request: Request) -> Response:
        server_id = request.path_params["server_id"]
        if request.method == "GET":
            with self.store.lock:
                return reply(request, {"server": model.render_server(
                    self.store, model.lookup(self.store, server_id), request)})
        body = await read_json(request, "server") if request.method == "PUT" else {}
        with self.store.change():
            server = model.lookup(self.store, server_id)
            if request.method == "DELETE":
                model.destroy(self.store, server)
                return reply(request, None, 204)
            fields = (("name", "name"), ("description", "description"), ("accessIPv4", "access_ipv4"),
                      ("metadata", "metadata"))
            for key, field in fields:
                if key in body:
                    server[field] = body[key]
            server["updated"] = time.time()
            return reply(request, {"server": model.render_server(self.store, server, request)})

    async def action(self, request: Request) -> Response:
        body = await read_json(request)
        with self.store.change():
            server = model.lookup(self.store, request.path_params["server_id"])
            return nova_actions.perform(self.store, self.faults, server, body, request)

    # -- metadata --------------------------------------------------------------------------
    async def metadata(self, request: Request) -> Response:
        body = await read_json(request, "metadata") if request.method != "GET" else {}
        with self.store.change():
            server = model.lookup(self.store, request.path_params["server_id"])
            if request.method == "POST":
                server["metadata"].update(body)
            elif request.method == "PUT":
                server["metadata"] = dict(body)
            return reply(request, {"metadata": server["metadata"]})

    async def metadata_item(self, request: Request) -> Response:
        key = request.path_params["key"]
        body = await read_json(request, "meta") if request.method == "PUT" else {}
        with self.store.change():
            server = model.lookup(self.store, request.path_params["server_id"])
            if request.method == "PUT":
                if list(body) != [key]:
                    raise CloudError(400, "Request body and URI mismatch")
                server["metadata"][key] = body[key]
                return reply(request, {"meta": {key: body[key]}})
            if key not in server["metadata"]:
                raise CloudError(404, "Metadata item was not found")
            if request.method == "DELETE":
                del server["metadata"][key]
                return reply(request, None, 204)
            return reply(request, {"meta": {key: server["metadata"][key]}})

    # -- volume attachments ----------------------------------------------------------------
    def _render_attachment(self, server: Record, entry: Record) -> Record:
        return {"id": entry["volume_id"], "serverId": server["id"], "volumeId": entry["volume_id"],
                "device": entry["device"], "tag": entry["tag"],
                "delete_on_termination": entry["delete_on_termination"],
                "attachment_id": entry["attachment_id"], "bdm_uuid": entry["attachment_id"]}

    async def attachments(self, request: Request) -> Response:
        body = await read_json(request, "volumeAttachment") if request.method == "POST" else {}
        with self.store.change():
            server = model.lookup(self.store, request.path_params["server_id"])
            if request.method == "GET":
                return reply(request, {"volumeAttachments": [self._render_attachment(server, e)
                                                             for e in server["volumes"]]})
            model.require_status(server, "attach_volume", SETTLED)
            volume = cinder.lookup(self.store, str(body.get("volumeId")))
            entry = model.attach_volume(self.store, server, volume, body.get("device"),
                                        bool(body.get("delete_on_termination", False)))
            entry["tag"] = body.get("tag")
            return reply(request, {"volumeAttachment": self._render_attachment(server, entry)})

    async def attachment(self, request: Request) -> Response:
        volume_id = request.path_params["volume_id"]
        with self.store.change():
            server = model.lookup(self.store, request.path_params["server_id"])
            entry = next((e for e in server["volumes"] if e["volume_id"] == volume_id), None)
            if entry is None:
                raise CloudError(404, f"Volume {volume_id} is not attached to instance {server['id']}.")
            if request.method == "GET":
                return reply(request, {"volumeAttachment": self._render_attachment(server, entry)})
            if entry["boot_index"] == 0:
                raise CloudError(400, "Cannot detach a root device volume")
            model.require_status(server, "detach_volume", SETTLED)
            server["volumes"].remove(entry)
            volume = self.store.get("volumes", volume_id)
            if volume is not None:
                cinder.detach(volume)
            return reply(request, None, 202)

