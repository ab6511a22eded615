"""Glance v2 for the sandbox: the version list and the seeded images (read-only)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sandbox.cloud.store import Store
from sandbox.cloud.web import CloudError, Record, filter_records, host_url, is_paged, iso

PREFIX = "/image"


def render_image(store: Store, image: Record) -> Record:
    path = f"/v2/images/{image['id']}"
    stamp = iso(image["created"])
    return {
        "id": image["id"], "name": image["name"], "status": "active", "visibility": image["visibility"],
        "protected": False, "os_hidden": False, "min_disk": image["min_disk"], "min_ram": image["min_ram"],
        "size": image["size"], "virtual_size": None, "disk_format": image["disk_format"],
        "container_format": image["container_format"], "checksum": image["checksum"],
        "os_hash_algo": "sha512", "os_hash_value": image["checksum"] * 4, "owner": store.project_id,
        "created_at": stamp, "updated_at": stamp, "tags": [], "self": path, "file": path + "/file",
        "schema": "/v2/schemas/image",
    }


class Glance:
    """Routes under /image."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def routes(self) -> list[BaseRoute]:
        p = PREFIX
        return [
            Route(p, self.versions, methods=["GET"]),
            Route(p + "/", self.versions, methods=["GET"]),
            Route(p + "/versions", self.versions, methods=["GET"]),
            Route(p + "/v2/images", self.list_images, methods=["GET"]),
            Route(p + "/v2/images/{image_id}", self.show_image, methods=["GET"]),
        ]

    async def versions(self, request: Request) -> Response:
        href = host_url(request) + PREFIX + "/v2/"
        values = [{"id": f"v2.{minor}", "status": "CURRENT" if minor == 16 else "SUPPORTED",
                   "links": [{"rel": "self", "href": href}]} for minor in (16, 15, 9, 0)]
        return JSONResponse({"versions": values}, 200 if request.url.path.endswith("versions") else 300)

    async def list_images(self, request: Request) -> Response:
        with self.store.lock:
            images = [render_image(self.store, i) for i in self.store.table("images").values()]
        images = [] if is_paged(request) else filter_records(images, request, ignore=["member_status"])
        return JSONResponse({"images": sorted(images, key=lambda i: i["name"]),
                             "first": "/v2/images", "schema": "/v2/schemas/images"})

    async def show_image(self, request: Request) -> Response:
        image_id = request.path_params["image_id"]
        with self.store.lock:
            image = self.store.get("images", image_id)
            if image is None:
                raise CloudError(404, f"No image found with ID {image_id}")
            return JSONResponse(render_image(self.store, image))
