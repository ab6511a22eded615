"""Nova server actions for the sandbox (`POST /servers/{id}/action`): stop and start, reboot,
resize with confirm or revert, rebuild. Each checks the state Nova allows (409 otherwise), the
quota where Nova checks it, and answers with Nova's status code and body."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response

from sandbox.cloud import nova_model as model
from sandbox.cloud.faults import Faults
from sandbox.cloud.nova_model import reply, version
from sandbox.cloud.store import Store
from sandbox.cloud.web import CloudError, Record

SETTLED = ("ACTIVE", "SHUTOFF")
GIB = 1024 ** 3
VOLUME_REBUILD = (2, 93)  # from here a volume-backed server may be rebuilt with another image

Action = Callable[[Store, Faults, Record, Record, Request], Response]


def perform(store: Store, faults: Faults, server: Record, body: Record, request: Request) -> Response:
    """Run the one action named in the body (inside the caller's `store.change()`)."""
    name = next(iter(body), "(none)")
    handler = ACTIONS.get(name)
    if handler is None or len(body) != 1:
        raise CloudError(400, f"There is no such action: {', '.join(body) or '(none)'}")
    args = body[name]
    if args is not None and not isinstance(args, dict):
        raise CloudError(400, f"Invalid input for field/attribute {name}. Value: {args!r}. "
                              f"{args!r} is not of type 'object', 'null'")
    return handler(store, faults, server, args or {}, request)


def _stop(store: Store, faults: Faults, server: Record, args: Record, request: Request) -> Response:
    model.require_status(server, "stop", ("ACTIVE", "ERROR"))
    server.update(status="SHUTOFF", pending=None, updated=time.time())
    return reply(request, None, 202)


def _start(store: Store, faults: Faults, server: Record, args: Record, request: Request) -> Response:
    model.require_status(server, "start", ("SHUTOFF",))
    server.update(status="ACTIVE", pending=None, updated=time.time())
    return reply(request, None, 202)


def _reboot(store: Store, faults: Faults, server: Record, args: Record, request: Request) -> Response:
    hard = str(args.get("type", "SOFT")).upper() == "HARD"
    model.require_status(server, "reboot", SETTLED if hard else ("ACTIVE",))
    model.set_pending(server, "HARD_REBOOT" if hard else "REBOOT", "ACTIVE", faults.boot_delay)
    return reply(request, None, 202)


def _resize(store: Store, faults: Faults, server: Record, args: Record, request: Request) -> Response:
    """Resize to another flavor: VERIFY_RESIZE after a while, counting the cores and RAM it adds."""
    if "flavorRef" not in args:
        raise CloudError(400, f"Invalid input for field/attribute resize. Value: {args}. "
                              f"'flavorRef' is a required property")
    status = model.require_status(server, "resize", SETTLED)
    flavor = model.find_flavor(store, args["flavorRef"])
    if flavor is None:
        raise CloudError(400, f"Flavor {args['flavorRef']} could not be found.")
    old = server["flavor"]
    if flavor["id"] == old["id"]:
        raise CloudError(400, "When resizing, instances must change flavor!")
    if model.root_volume(store, server) is None and old["disk"] and not flavor["disk"]:
        raise CloudError(400, "Server disk was unable to be resized because: Resize to zero disk flavor "
                              "is not allowed.")
    if server["image_id"] and 0 < flavor["disk"] < old["disk"]:
        raise CloudError(400, "Resizing to a smaller disk flavor is not allowed.")
    model.compute_quota_error(store, faults, {"cores": flavor["vcpus"] - old["vcpus"],
                                              "ram": flavor["ram"] - old["ram"]})
    server.update(flavor=dict(flavor), old_flavor=old, resized_from=status)
    model.set_pending(server, "RESIZE", "VERIFY_RESIZE", faults.boot_delay)
    return reply(request, None, 202)


def _confirm(store: Store, faults: Faults, server: Record, args: Record, request: Request) -> Response:
    model.require_status(server, "confirmResize", ("VERIFY_RESIZE",))
    # A server resized while stopped stays stopped (Nova keeps the power state across a resize).
    server.update(status=server.get("resized_from") or "ACTIVE", old_flavor=None, pending=None,
                  updated=time.time())
    return reply(request, None, 204)


def _revert(store: Store, faults: Faults, server: Record, args: Record, request: Request) -> Response:
    model.require_status(server, "revertResize", ("VERIFY_RESIZE",))
    server.update(flavor=server["old_flavor"], old_flavor=None)
    model.set_pending(server, "REVERT_RESIZE", server.get("resized_from") or "ACTIVE", faults.boot_delay)
    return reply(request, None, 202)


def _rebuild_image(store: Store, server: Record, ref: object, request: Request) -> Record:
    """The image a rebuild asks for, checked as Nova checks it against the server and its flavor."""
    image = store.get("images", str(ref or "").rstrip("/").rsplit("/", 1)[-1])
    if image is None:
        raise CloudError(400, "Cannot find image for rebuild")
    if image["status"] != "active":
        raise CloudError(400, f"Image {image['id']} is not active.")
    root = model.root_volume(store, server)
    if root is not None and root.get("image_id") != image["id"] and version(request) < VOLUME_REBUILD:
        raise CloudError(400, f"Image {image['id']} is unacceptable: Unable to rebuild with a different "
                              f"image for a volume-backed server.")
    flavor = server["flavor"]
    if flavor["ram"] < image["min_ram"]:
        raise CloudError(400, "Flavor's memory is too small for requested image.")
    disk = flavor["disk"] * GIB
    if root is None and disk and (image["size"] or 0) > disk:
        raise CloudError(400, f"Flavor's disk is too small for requested image. Flavor disk is {disk} bytes, "
                              f"image is {image['size']} bytes.")
    min_disk = image["min_disk"] * GIB
    if root is None and disk and min_disk > disk:
        raise CloudError(400, f"Flavor's disk is smaller than the minimum size specified in image metadata. "
                              f"Flavor disk is {disk} bytes, minimum size is {min_disk} bytes.")
    return image


def _rebuild(store: Store, faults: Faults, server: Record, args: Record, request: Request) -> Response:
    """Re-image the root disk (or the boot volume, from 2.93): same id, ports and volumes; REBUILD,
    then back to ACTIVE (or SHUTOFF, when it was stopped)."""
    if "imageRef" not in args:
        raise CloudError(400, f"Invalid input for field/attribute rebuild. Value: {args}. "
                              f"'imageRef' is a required property")
    status = model.require_status(server, "rebuild", ("ACTIVE", "SHUTOFF", "ERROR"))
    image = _rebuild_image(store, server, args["imageRef"], request)
    if version(request) >= (2, 54) and "key_name" in args:
        if args["key_name"] and store.get("keypairs", str(args["key_name"])) is None:
            raise CloudError(400, "Invalid key_name provided.")
        server["key_name"] = args["key_name"]
    for key, field in (("name", "name"), ("metadata", "metadata"), ("accessIPv4", "access_ipv4"),
                       ("description", "description")):
        if key in args:
            server[field] = args[key]
    root = model.root_volume(store, server)
    if root is not None:
        root.update(image_id=image["id"], image_name=image["name"], updated=time.time())
    else:
        server["image_id"] = image["id"]
    server["fault"] = None
    model.set_pending(server, "REBUILD", "SHUTOFF" if status == "SHUTOFF" else "ACTIVE", faults.boot_delay)
    body = model.render_server(store, server, request)
    body["adminPass"] = args.get("adminPass") or secrets.token_urlsafe(9)
    return reply(request, {"server": body}, 202)


ACTIONS: dict[str, Action] = {
    "os-stop": _stop, "os-start": _start, "reboot": _reboot, "resize": _resize,
    "confirmResize": _confirm, "revertResize": _revert, "rebuild": _rebuild,
}
