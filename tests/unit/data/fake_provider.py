"""A tiny Terraform provider (`mchub/fake`, resource `fake_thing`) for the wrapper's tests:
creates after `sleep` seconds, fails with `fail` as the error detail. Ignores SIGINT, as
go-plugin providers do, so a Ctrl-C reaches Terraform and not the plugin."""

from __future__ import annotations

import signal
import time
import uuid
from typing import Any

from tf import provider as p
from tf import schema, types
from tf.runner import run_provider


class FakeProvider(p.Provider):
    def full_name(self) -> str:
        return "registry.terraform.io/mchub/fake"

    def get_model_prefix(self) -> str:
        return "fake_"

    def get_provider_schema(self, diags: Any) -> schema.Schema:
        return schema.Schema(attributes=[])

    def validate_config(self, diags: Any, config: Any) -> None:
        pass

    def configure_provider(self, diags: Any, config: Any) -> None:
        pass

    def get_data_sources(self) -> list[Any]:
        return []

    def get_resources(self) -> list[Any]:
        return [Thing]


class Thing(p.Resource):
    @classmethod
    def get_name(cls) -> str:
        return "thing"

    @classmethod
    def get_schema(cls) -> schema.Schema:
        return schema.Schema(
            version=1,
            attributes=[
                schema.Attribute("name", types.String(), required=True, requires_replace=True),
                schema.Attribute("sleep", types.Number(), optional=True),
                schema.Attribute("fail", types.String(), optional=True),
                schema.Attribute("id", types.String(), computed=True),
            ],
        )

    def __init__(self, provider: FakeProvider) -> None:
        self.provider = provider

    def upgrade(self, ctx: Any, version: int, old: Any) -> Any:
        return old

    def create(self, ctx: Any, planned: Any) -> Any:
        time.sleep(planned.get("sleep") or 0)
        if planned.get("fail"):
            ctx.diagnostics.add_error("Error creating thing", planned["fail"])
            return None
        return {**planned, "id": str(uuid.uuid4())}

    def read(self, ctx: Any, current: Any) -> Any:
        return current

    def update(self, ctx: Any, current: Any, planned: Any) -> Any:
        return {**planned, "id": current["id"]}

    def delete(self, ctx: Any, current: Any) -> None:
        pass


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    run_provider(FakeProvider())
