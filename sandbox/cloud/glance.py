"""Glance v2 for the sandbox: version list, images (list, show, create, JSON-patch update, delete),
image data (upload, stage and glance-direct import), deactivate/reactivate and tags. The rules
on the records are glance_model's; who may do what (owner, admin) is checked here."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sandbox.cloud import glance_model as model
from sandbox.cloud.keystone import is_admin
from sandbox.cloud.store import Store
from sandbox.cloud.web import CloudError, Record, filter_records, host_url, is_paged, read_json

PREFIX = "/image"
IMAGE = PREFIX + "/v2/images/{image_id}"
IMPORT_METHODS = "glance-direct"


def lookup(store: Store, image_id: str) -> Record:
    image = store.get("images", image_id)
    if image is None:
        raise CloudError(404, f"No image found with ID {image_id}")
    return image


async def _data(request: Request) -> bytes:
    """Image data: Glance takes only application/octet-stream."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip()
    if content_type != "application/octet-stream":
        raise CloudError(415, f"Invalid content type {content_type or '(none)'}")
    return await request.body()


def _sized(images: list[Record], low: str | None, high: str | None) -> list[Record]:
    """`size_min` / `size_max` filters (bytes); an image without data has no size to match."""
    try:
        bounds = (int(low) if low else None, int(high) if high else None)
    except ValueError as exc:
        raise CloudError(400, f"Invalid size filter: {exc}") from exc
    if bounds == (None, None):
        return images
    return [i for i in images if i["size"] is not None and (bounds[0] is None or i["size"] >= bounds[0])
            and (bounds[1] is None or i["size"] <= bounds[1])]


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
            Route(p + "/v2/info/import", self.import_info, methods=["GET"]),
            Route(p + "/v2/images", self.list_images, methods=["GET"]),
            Route(p + "/v2/images", self.create_image, methods=["POST"]),
            Route(IMAGE, self.show_image, methods=["GET"]),
            Route(IMAGE, self.update_image, methods=["PATCH"]),
            Route(IMAGE, self.delete_image, methods=["DELETE"]),
            Route(IMAGE + "/file", self.upload, methods=["PUT"]),
            Route(IMAGE + "/stage", self.stage, methods=["PUT"]),
            Route(IMAGE + "/import", self.import_image, methods=["POST"]),
            Route(IMAGE + "/actions/{action}", self.action, methods=["POST"]),
            Route(IMAGE + "/tags/{tag}", self.tag, methods=["PUT", "DELETE"]),
        ]

    async def versions(self, request: Request) -> Response:
        href = host_url(request) + PREFIX + "/v2/"
        values = [{"id": f"v2.{minor}", "status": "CURRENT" if minor == 16 else "SUPPORTED",
                   "links": [{"rel": "self", "href": href}]} for minor in (16, 15, 9, 0)]
        return JSONResponse({"versions": values}, 200 if request.url.path.endswith("versions") else 300)

    async def import_info(self, request: Request) -> Response:
        methods = {"description": "Import methods available.", "type": "array",
                   "value": IMPORT_METHODS.split(",")}
        return JSONResponse({"import-methods": methods})

    async def list_images(self, request: Request) -> Response:
        """Every image whatever its status (queued, deactivated...), as Glance lists them."""
        with self.store.lock:
            images = [model.render_image(i) for i in self.store.table("images").values()]
        if "os_hidden" not in request.query_params:
            images = [i for i in images if not i["os_hidden"]]
        for tag in request.query_params.getlist("tag"):
            images = [i for i in images if tag in i["tags"]]
        images = _sized(images, request.query_params.get("size_min"), request.query_params.get("size_max"))
        images = [] if is_paged(request) else filter_records(images, request, ignore=["member_status"])
        return JSONResponse({"images": sorted(images, key=lambda i: str(i["name"] or "")),
                             "first": "/v2/images", "schema": "/v2/schemas/images"})

    async def show_image(self, request: Request) -> Response:
        with self.store.lock:
            return JSONResponse(model.render_image(lookup(self.store, request.path_params["image_id"])))

    async def create_image(self, request: Request) -> Response:
        body = await read_json(request)
        with self.store.change():
            image = model.new_image(body, self.store.project_id, is_admin(self.store, request))
            if self.store.get("images", image["id"]) is not None:
                raise CloudError(409, f"Image with identifier {image['id']} already exists!")
            self.store.put("images", image)
            headers = {"Location": f"{host_url(request)}{PREFIX}/v2/images/{image['id']}",
                       "OpenStack-image-import-methods": IMPORT_METHODS}
            return JSONResponse(model.render_image(image), 201, headers)

    def _own(self, request: Request, action: str) -> Record:
        """The image of the path, when the caller may change it (owner's project, or admin)."""
        image = lookup(self.store, request.path_params["image_id"])
        model.check_owner(image, self.store.project_id, is_admin(self.store, request), action)
        return image

    async def update_image(self, request: Request) -> Response:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError as exc:
            raise CloudError(400, f"Malformed JSON in request body: {exc}") from exc
        changes = model.parse_patch(request.headers.get("content-type", ""), body)
        with self.store.change():
            image = self._own(request, "modify_image")
            model.apply_patch(image, changes, is_admin(self.store, request))
            return JSONResponse(model.render_image(image))

    async def delete_image(self, request: Request) -> Response:
        with self.store.change():
            image_id = request.path_params["image_id"]
            if self.store.get("images", image_id) is None:
                raise CloudError(404, f"Failed to find image {image_id} to delete")
            image = self._own(request, "delete_image")
            if image["protected"]:
                raise CloudError(403, f"Image {image_id} is protected and cannot be deleted.")
            self.store.remove("images", image_id)
        return Response(status_code=204)

    async def upload(self, request: Request) -> Response:
        data = await _data(request)
        with self.store.change():
            model.store_data(self._own(request, "upload_image"), data, "saving")
        return Response(status_code=204)

    async def stage(self, request: Request) -> Response:
        data = await _data(request)
        with self.store.change():
            model.store_data(self._own(request, "modify_image"), data, "uploading")
        return Response(status_code=204)

    async def import_image(self, request: Request) -> Response:
        body = await read_json(request)
        with self.store.change():
            model.import_staged(self._own(request, "modify_image"), body)
        return Response(status_code=202)

    async def action(self, request: Request) -> Response:
        action = request.path_params["action"]
        if action not in ("deactivate", "reactivate"):
            raise CloudError(404, "The resource could not be found.")
        with self.store.change():
            model.set_active(self._own(request, action), action == "reactivate")
        return Response(status_code=204)

    async def tag(self, request: Request) -> Response:
        tag = request.path_params["tag"]
        with self.store.change():
            image = self._own(request, "modify_image")
            if request.method == "PUT":
                image["tags"] = sorted({*image["tags"], tag})
            elif tag not in image["tags"]:
                raise CloudError(404, f"Tag {tag} not found")
            else:
                image["tags"].remove(tag)
        return Response(status_code=204)
