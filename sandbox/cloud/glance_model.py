"""Glance v2 images as data for the sandbox: new records, the status ladder (queued -> uploading ->
active <-> deactivated), image data, JSON-patch changes and the API view. Glance's own rules and
messages; the store and the routes are glance.py's."""

from __future__ import annotations

import hashlib
import time
import uuid
from typing import Any

from sandbox.cloud.web import CloudError, Record, iso, new_id

DISK_FORMATS = ("ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop")
CONTAINER_FORMATS = ("ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed")
VISIBILITIES = ("community", "public", "private", "shared")
# Attributes the image itself has (the rest are free string properties), and their schema type.
BASE = {"name": "string", "disk_format": "format", "container_format": "format", "visibility": "visibility",
        "protected": "boolean", "os_hidden": "boolean", "min_disk": "integer", "min_ram": "integer",
        "tags": "tags", "owner": "string"}
READ_ONLY = ("created_at", "updated_at", "status", "checksum", "size", "virtual_size", "direct_url", "self",
             "file", "schema", "id", "os_hash_algo", "os_hash_value", "stores")
RESERVED = ("location", "deleted", "deleted_at", "locations")
PATCH_TYPES = {"application/openstack-images-v2.0-json-patch": 4,
               "application/openstack-images-v2.1-json-patch": 10}
OPERATIONS = ("add", "remove", "replace")


def forbidden(action: str) -> CloudError:
    """Glance's policy refusal."""
    return CloudError(403, f"You are not authorized to complete {action} action.")


def _check_value(key: str, value: Any) -> None:
    """Glance validates against its image schema; a free property must be a string."""
    kind = BASE.get(key, "property")
    ok = {
        "string": value is None or (isinstance(value, str) and len(value) <= 255),
        "format": value is None or value in (DISK_FORMATS if key == "disk_format" else CONTAINER_FORMATS),
        "visibility": value in VISIBILITIES,
        "boolean": isinstance(value, bool),
        "integer": isinstance(value, int) and not isinstance(value, bool) and value >= 0,
        "tags": isinstance(value, list) and all(isinstance(t, str) and len(t) <= 255 for t in value),
        "property": isinstance(value, str),
    }[kind]
    if not ok:
        expected = {"format": f"one of {list(DISK_FORMATS if key == 'disk_format' else CONTAINER_FORMATS)}",
                    "visibility": f"one of {list(VISIBILITIES)}", "property": "of type 'string'",
                    "integer": "a non-negative integer"}.get(kind, f"of type '{kind}'")
        raise CloudError(400, f"Provided object does not match schema 'image': {value!r} is not {expected} "
                              f"(property {key})")


def _check_settable(key: str) -> None:
    if key in READ_ONLY:
        raise CloudError(403, f"Attribute '{key}' is read-only.")
    if key in RESERVED or key.startswith("os_glance"):
        raise CloudError(403, f"Attribute '{key}' is reserved.")


def new_image(body: Record, owner: str, admin: bool) -> Record:
    """A queued image from a create request (`POST /v2/images`); the client may choose the id."""
    body = dict(body)
    image_id = body.pop("id", None) or new_id()
    try:
        image_id = str(uuid.UUID(str(image_id)))
    except ValueError:
        raise CloudError(400, f"Provided object does not match schema 'image': {image_id!r} does not "
                              f"match the id pattern (a UUID)") from None
    for key, value in body.items():
        _check_settable(key)
        _check_value(key, value)
    if body.get("visibility") == "public" and not admin:
        raise forbidden("publicize_image")
    if "owner" in body and body["owner"] != owner and not admin:
        raise CloudError(403, f"You are not permitted to create images owned by '{body['owner']}'.")
    stamp = time.time()
    image: Record = {
        "id": image_id, "name": None, "status": "queued", "visibility": "shared", "protected": False,
        "os_hidden": False, "min_disk": 0, "min_ram": 0, "size": None, "disk_format": None,
        "container_format": None, "checksum": None, "os_hash_value": None, "owner": owner, "tags": [],
        "properties": {}, "created": stamp, "updated": stamp,
    }
    for key, value in body.items():
        if key in BASE:
            image[key] = sorted(set(value)) if key == "tags" else value
        else:
            image["properties"][key] = value
    return image


def seeded_image(fields: Record, owner: str, stamp: float) -> Record:
    """An image the cloud starts with, active unless `fields` say otherwise (its data is imaginary;
    its hashes are made up); a queued one has no data yet."""
    digest = hashlib.md5(f"{fields['name']}{stamp}".encode()).hexdigest()
    image = {"id": new_id(), "status": "active", "protected": False, "os_hidden": False, "owner": owner,
             "tags": [], "properties": {}, "created": stamp, "updated": stamp, "checksum": digest,
             "os_hash_value": hashlib.sha512(digest.encode()).hexdigest(), **fields}
    if image["status"] == "queued":
        image.update(size=None, checksum=None, os_hash_value=None)
    return image


def upgrade(image: Record, owner: str) -> None:
    """Fill in what records saved by older sandboxes lack (they were all seeded, active images)."""
    image.setdefault("status", "active")
    image.setdefault("owner", owner)
    for key, value in (("protected", False), ("os_hidden", False), ("tags", []), ("properties", {})):
        image.setdefault(key, value)
    image.setdefault("updated", image["created"])
    if not image.get("os_hash_value") and image.get("checksum"):
        image["os_hash_value"] = hashlib.sha512(str(image["checksum"]).encode()).hexdigest()


def check_owner(image: Record, project_id: str, admin: bool, action: str) -> None:
    """Only the owner's members (or an admin) change an image."""
    if not admin and image["owner"] != project_id:
        raise forbidden(action)


def store_data(image: Record, data: bytes, target: str) -> None:
    """Image data arrives: `target` "saving" (upload -> active) or "uploading" (stage, for an import)."""
    if image["status"] != "queued":
        raise CloudError(409, f"Image status transition from {image['status']} to {target} is not allowed")
    missing = [k for k in ("disk_format", "container_format") if not image[k]]
    if missing and target == "saving":
        noun = "Properties" if len(missing) > 1 else "Property"
        raise CloudError(400, f"{noun} {', '.join(missing)} must be set prior to saving data.")
    image.update(size=len(data), checksum=hashlib.md5(data).hexdigest(),
                 os_hash_value=hashlib.sha512(data).hexdigest(), updated=time.time(),
                 status="active" if target == "saving" else "uploading")


def import_staged(image: Record, body: Record) -> None:
    """`POST /v2/images/{id}/import` with the glance-direct method: the staged data becomes the image."""
    method = body.get("method")
    if not isinstance(method, dict):
        raise CloudError(400, "Import request requires a 'method' field.")
    name = method.get("name")
    if not name:
        raise CloudError(400, "Import request requires a 'name' field.")
    if name not in ("glance-direct", "web-download", "copy-image", "glance-download"):
        raise CloudError(400, f"Unknown import method name '{name}'.")
    if name != "glance-direct":
        raise CloudError(400, f"Import method {name} is not enabled on this cloud; choose glance-direct.")
    if image["status"] == "active":
        raise CloudError(409, "Image with status active cannot be target for import")
    if image["status"] != "uploading":
        raise CloudError(409, "Image needs to be staged before 'glance-direct' method can be used")
    for key in ("container_format", "disk_format"):
        if not image[key]:
            raise CloudError(409, f"'{key}' needs to be set before import")
    image.update(status="active", updated=time.time())


def set_active(image: Record, active: bool) -> None:
    """Deactivate (active -> deactivated) or reactivate; the same state again is a no-op, as in Glance."""
    wanted, source, verb = ("active", "deactivated", "reactivate") if active else (
        "deactivated", "active", "deactivate")
    if image["status"] not in (wanted, source):
        raise CloudError(403, f"Not allowed to {verb} image in status '{image['status']}'")
    image.update(status=wanted, updated=time.time())


def parse_patch(content_type: str, body: Any) -> list[tuple[str, str, Any]]:
    """(op, attribute, value) changes from a JSON-patch body, as Glance's deserializer reads them."""
    draft = PATCH_TYPES.get(content_type.split(";")[0].strip())
    if draft is None:
        raise CloudError(415, f"Image PATCH expects Content-Type one of: {', '.join(sorted(PATCH_TYPES))}")
    if not isinstance(body, list):
        raise CloudError(400, "Request body must be a JSON array of operation objects.")
    changes = []
    for raw in body:
        if not isinstance(raw, dict):
            raise CloudError(400, "Operations must be JSON objects.")
        ops = [op for op in OPERATIONS if op in raw] if draft == 4 else [raw.get("op")]
        op = ops[0] if len(ops) == 1 else None
        if op not in OPERATIONS:
            raise CloudError(400, f"Invalid operation: `{op}`. It must be one of the following: "
                                  f"{', '.join(OPERATIONS)}.")
        path = raw.get(op) if draft == 4 else raw.get("path")
        if not isinstance(path, str) or not path.startswith("/") or len(path) < 2 or "/" in path[1:]:
            raise CloudError(400, f"Invalid JSON pointer for this resource: '{path}'")
        key = path[1:].replace("~1", "/").replace("~0", "~").strip()
        if op != "remove" and "value" not in raw:
            raise CloudError(400, f'Operation "{op}" requires a member named "value".')
        _check_settable(key)
        if op != "remove":
            _check_value(key, raw["value"])
        changes.append((op, key, raw.get("value")))
    return changes


def apply_patch(image: Record, changes: list[tuple[str, str, Any]], admin: bool) -> None:
    """Apply parsed changes in order (the caller rolls back on an error)."""
    for op, key, value in changes:
        if key == "visibility" and value == "public" and not admin:
            raise forbidden("publicize_image")
        if key == "owner" and not admin:
            raise CloudError(403, "Owner can't be updated by non admin.")
        if key in ("disk_format", "container_format") and image["status"] not in ("queued", "importing"):
            raise CloudError(403, f"Attribute {key} can be only replaced for a queued image.")
        props = image["properties"]
        if op == "remove":
            if key in BASE:
                raise CloudError(403, f"Property {key} may not be removed.")
            if key not in props:
                raise CloudError(409, f"Property {key} does not exist.")
            del props[key]
        elif key in BASE:
            image[key] = sorted(set(value)) if key == "tags" else value
        elif op == "replace" and key not in props:
            raise CloudError(409, f"Property {key} does not exist.")
        else:
            props[key] = value
    image["updated"] = time.time()


def render_image(image: Record) -> Record:
    path = f"/v2/images/{image['id']}"
    body: Record = dict(image["properties"])
    body.update({
        "id": image["id"], "name": image["name"], "status": image["status"],
        "visibility": image["visibility"],
        "protected": image["protected"], "os_hidden": image["os_hidden"], "min_disk": image["min_disk"],
        "min_ram": image["min_ram"], "size": image["size"], "virtual_size": None,
        "disk_format": image["disk_format"], "container_format": image["container_format"],
        "checksum": image["checksum"], "os_hash_algo": "sha512" if image["os_hash_value"] else None,
        "os_hash_value": image["os_hash_value"], "owner": image["owner"],
        "created_at": iso(image["created"]), "updated_at": iso(image["updated"]), "tags": list(image["tags"]),
        "self": path, "file": path + "/file", "schema": "/v2/schemas/image",
    })
    return body
