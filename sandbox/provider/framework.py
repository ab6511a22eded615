"""Glue between the `tf` package and the stand-in provider's resources.

Adds what `tf` 1.2.0 lacks: list blocks, replacement when a nested block changes, unknown
(not null) computed attributes inside blocks on create, and one place that turns cloud errors
into Terraform diagnostics instead of exceptions.
"""

from __future__ import annotations

import traceback
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Protocol

from tf.blocks import SetNestedBlock
from tf.gen import tfplugin_pb2 as pb
from tf.iface import _validate_config
from tf.schema import Attribute, Block, Schema
from tf.types import Bool, List, Map, Number, String, TfType, Unknown
from tf.utils import read_dynamic_value, to_dynamic_value

from sandbox.provider.client import Cloud, CloudError
from sandbox.provider.credentials import CredentialsError

State = dict[str, Any]
__all__ = ["Block", "Schema", "Unknown"]  # re-exported for the resource modules
STR, NUM, BOOL = String(), Number(), Bool()
STR_MAP, STR_LIST = Map(String()), List(String())


def attr(name: str, kind: TfType, *, required: bool = False, optional: bool = False, computed: bool = False,
         sensitive: bool = False, replace: bool = False) -> Attribute:
    """A schema attribute; `replace` means a change re-creates the resource (ForceNew)."""
    return Attribute(name, kind, required=required, optional=optional, computed=computed,
                     sensitive=sensitive, requires_replace=replace or None)


def required(name: str, kind: TfType = STR, replace: bool = False) -> Attribute:
    return attr(name, kind, required=True, replace=replace)


def optional(name: str, kind: TfType = STR, replace: bool = False, sensitive: bool = False) -> Attribute:
    return attr(name, kind, optional=True, replace=replace, sensitive=sensitive)


def computed(name: str, kind: TfType = STR, sensitive: bool = False) -> Attribute:
    return attr(name, kind, computed=True, sensitive=sensitive)


def settable(name: str, kind: TfType = STR, replace: bool = False) -> Attribute:
    """Optional + computed: the cloud fills it in when the configuration leaves it out."""
    return attr(name, kind, optional=True, computed=True, replace=replace)


class ListNestedBlock(SetNestedBlock):  # type: ignore[misc]
    """A `NestingMode.LIST` block (tf only ships set and single)."""

    def __init__(self, type_name: str, block: Block, min_items: int | None = None,
                 max_items: int | None = None) -> None:
        super().__init__(type_name, block)
        self.min_items, self.max_items = min_items, max_items

    def to_pb(self) -> Any:
        return pb.Schema.NestedBlock(
            type_name=self.type_name, block=self.block.to_pb(), min_items=self.min_items,
            max_items=self.max_items, nesting=pb.Schema.NestedBlock.NestingMode.LIST,
        )

    def semantically_equal(self, a_decoded: Any, b_decoded: Any) -> bool:
        return bool(a_decoded == b_decoded)


def known(value: Any) -> bool:
    return value is not None and value is not Unknown


def no_unknowns(value: Any) -> Any:
    """`value` with every unknown (also inside blocks) made null: an applied state has no unknowns."""
    if value is Unknown:
        return None
    if isinstance(value, dict):
        return {k: no_unknowns(v) for k, v in value.items()}
    if isinstance(value, list):
        return [no_unknowns(v) for v in value]
    return value


def settle(planned: State, values: State) -> State:
    """The planned state with its unknown values replaced by what the cloud reported."""
    state = dict(planned)
    for key, value in values.items():
        if state.get(key, Unknown) is Unknown:
            state[key] = value
    return dict(no_unknowns(state))


class Partial(Exception):
    """The cloud object exists but did not reach its goal: keep `state` (Terraform taints it)."""

    def __init__(self, state: State, cause: CloudError) -> None:
        super().__init__(cause.message)
        self.state, self.cause = state, cause


def _report(ctx: Any, verb: str, exc: BaseException) -> None:
    what = ctx.type_name
    if isinstance(exc, Partial):
        exc = exc.cause
    if isinstance(exc, CloudError):
        ctx.diagnostics.add_error(f"Error {verb} {what}: {exc.message}", exc.detail)
    elif isinstance(exc, CredentialsError):
        ctx.diagnostics.add_error(f"Error {verb} {what}: {exc}", "Check the provider's credentials.")
    else:
        ctx.diagnostics.add_error(f"Error {verb} {what}: {type(exc).__name__}: {exc}", traceback.format_exc())


class CloudSource(Protocol):
    """What a resource needs of the provider that made it (provider.py's OpenStackProvider)."""

    def cloud(self) -> Cloud:
        """The provider's session, logged in on first use."""
        ...


class _OnCloud:
    """What resources and data sources share: their type name, schema and the provider's cloud."""

    type_suffix: ClassVar[str]
    schema: ClassVar[Schema]

    def __init__(self, provider: CloudSource) -> None:
        self.provider = provider

    @property
    def cloud(self) -> Cloud:
        return self.provider.cloud()

    @classmethod
    def get_name(cls) -> str:
        return cls.type_suffix

    @classmethod
    def get_schema(cls) -> Schema:
        return cls.schema


class CloudResource(_OnCloud, ABC):
    """Base of the resources: subclasses implement `_create/_read/_update/_delete` on `self.cloud`."""

    @classmethod
    def replace_on(cls, prior: State, planned: State) -> list[str]:
        """Top-level names whose change forces replacement beyond `replace=True` attributes."""
        return []

    def validate(self, diags: Any, type_name: str, config: State) -> None:
        _validate_config(diags, type_name, config, self.schema.attributes, self.schema.block_types)

    def plan(self, ctx: Any, current: State | None, planned: State) -> State:
        return planned

    def upgrade(self, ctx: Any, version: int, old: State) -> State:
        return old  # one schema version so far: nothing to migrate

    def create(self, ctx: Any, planned: State) -> State | None:
        try:
            return self._create(planned)
        except Partial as exc:
            _report(ctx, "creating", exc)
            return dict(no_unknowns(exc.state))
        except Exception as exc:
            _report(ctx, "creating", exc)
            return None

    def read(self, ctx: Any, current: State) -> State | None:
        try:
            return self._read(current)
        except Exception as exc:
            _report(ctx, "reading", exc)
            return current

    def update(self, ctx: Any, current: State, planned: State) -> State | None:
        try:
            return self._update(current, planned)
        except Partial as exc:
            _report(ctx, "updating", exc)
            return dict(no_unknowns(exc.state))
        except Exception as exc:
            _report(ctx, "updating", exc)
            return current

    def delete(self, ctx: Any, current: State) -> State | None:
        try:
            self._delete(current)
            return None
        except Exception as exc:
            _report(ctx, "deleting", exc)
            return current

    @abstractmethod
    def _create(self, planned: State) -> State:
        """Each resource type's own cloud calls."""

    @abstractmethod
    def _read(self, current: State) -> State | None:
        """Each resource type's own cloud calls."""

    @abstractmethod
    def _update(self, current: State, planned: State) -> State:
        """Each resource type's own cloud calls."""

    @abstractmethod
    def _delete(self, current: State) -> None:
        """Each resource type's own cloud calls."""


class CloudDataSource(_OnCloud, ABC):
    """Base of the data sources: subclasses implement `_read(config) -> state`."""

    def validate(self, diags: Any, type_name: str, config: State) -> None:
        _validate_config(diags, type_name, config, self.schema.attributes, self.schema.block_types)

    def read(self, ctx: Any, config: State) -> State | None:
        try:
            found = self._read(config)
        except Exception as exc:
            _report(ctx, "reading", exc)
            return None
        # Every attribute must be present in the answer; the ones left out are null.
        return {a.name: found.get(a.name, config.get(a.name)) for a in self.schema.attributes}

    @abstractmethod
    def _read(self, config: State) -> State:
        """Each data source's own cloud calls."""


def _unknown_nested_computed(schema: Schema, planned: State) -> State:
    """On create, `tf` plans computed attributes inside blocks as null; make them unknown."""
    for block in schema.block_types:
        items = planned.get(block.type_name)
        if not isinstance(items, list):
            continue
        for item in items:
            for nested in block.block.attributes:
                if nested.computed and isinstance(item, dict) and item.get(nested.name) is None:
                    item[nested.name] = Unknown
    return planned


def install_servicer() -> None:
    """Make `tf.runner.run_provider` serve with our PlanResourceChange fixes."""
    import tf.provider

    base = tf.provider.ProviderServicer

    class OpenStackServicer(base):  # type: ignore[misc, valid-type]
        def PlanResourceChange(self, request: Any, context: Any) -> Any:  # noqa: N802 - gRPC name
            response = super().PlanResourceChange(request, context)
            if any(d.severity == pb.Diagnostic.ERROR for d in response.diagnostics):
                return response
            try:
                self._adjust_plan(request, response)
            except Exception as exc:  # report, never surface as an opaque gRPC failure
                summary = f"Error planning {request.type_name}: {type(exc).__name__}: {exc}"
                response.diagnostics.append(pb.Diagnostic(severity=pb.Diagnostic.ERROR, summary=summary,
                                                          detail=traceback.format_exc()))
            return response

        def _adjust_plan(self, request: Any, response: Any) -> None:
            klass = self._get_res_cls(request.type_name)
            prior = read_dynamic_value(request.prior_state)
            planned = read_dynamic_value(response.planned_state)
            if planned is None:
                return
            if prior is None:
                planned = _unknown_nested_computed(klass.get_schema(), planned)
                response.planned_state.CopyFrom(to_dynamic_value(planned))
            else:
                for name in klass.replace_on(prior, planned):
                    step = pb.AttributePath.Step(attribute_name=name)
                    response.requires_replace.append(pb.AttributePath(steps=[step]))

    tf.provider.ProviderServicer = OpenStackServicer
