"""Glue between the `tf` package and the stand-in provider's resources.

Attributes carry what the real provider's terraform-plugin-sdk schemas say (ForceNew, Default,
an environment default); `sdkdiff.py` plans with them and `servicer.py` serves the plans. Adds
what `tf` 1.2.0 lacks (list blocks), one place that turns cloud errors into Terraform diagnostics
instead of exceptions, and the bookkeeping that keeps plans and results within Terraform's rules.

`tf` speaks plugin protocol 6, whose client in Terraform 1.0 ignores `legacy_type_system` (the
leniency SDK providers get over protocol 5). So where the SDK relies on it, the stand-in differs
in schema or state only, never in plans: an attribute with a Default is also computed, user_data
is stored as given (the SDK stores its SHA1), a value the configuration leaves null stays null
when the cloud says "" (the SDK does not tell them apart), and an apply keeps the planned values
(the next refresh brings in what an update changed besides, e.g. flavor_id after a resize).
"""

from __future__ import annotations

import os
import traceback
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Protocol

from tf.blocks import SetNestedBlock
from tf.gen import tfplugin_pb2 as pb
from tf.iface import _validate_config
from tf.schema import Attribute, Block, Schema
from tf.types import Bool, List, Map, Number, Set, String, TfType, Unknown

from sandbox.provider.client import Cloud, CloudError
from sandbox.provider.credentials import CredentialsError
from sandbox.provider.values import State, keep_nulls, known, no_unknowns, settle

Path = tuple[str | int, ...]  # an attribute path: ("block_device", 0, "uuid")
__all__ = ["Block", "Schema", "State", "Unknown", "known"]  # re-exported for the resource modules
STR, NUM, BOOL = String(), Number(), Bool()
STR_MAP, STR_LIST, STR_SET = Map(String()), List(String()), Set(String())


class Attr(Attribute):  # type: ignore[misc]
    """A schema attribute as terraform-plugin-sdk declares it.

    `force_new`: a change replaces the resource. `default`: the value planned when the
    configuration leaves an optional attribute out (such an attribute is also computed here).
    `env_default`: a variable whose value is that default, and which makes a required attribute
    optional when set (DefaultFunc).
    """

    def __init__(self, name: str, kind: TfType, *, required: bool = False, optional: bool = False,
                 computed: bool = False, sensitive: bool = False, force_new: bool = False,
                 default: Any = None, env_default: str | None = None) -> None:
        if required and env_default and os.environ.get(env_default):
            required, optional = False, True
        computed = computed or (optional and (default is not None or env_default is not None))
        super().__init__(name, kind, required=required, optional=optional, computed=computed,
                         sensitive=sensitive, requires_replace=force_new or None)
        self.force_new, self.sdk_default, self.env_default = force_new, default, env_default

    def default_value(self) -> Any:
        if self.env_default and os.environ.get(self.env_default):
            return os.environ[self.env_default]
        return self.sdk_default


def required(name: str, kind: TfType = STR, force_new: bool = False, env_default: str | None = None) -> Attr:
    return Attr(name, kind, required=True, force_new=force_new, env_default=env_default)


def optional(name: str, kind: TfType = STR, force_new: bool = False, default: Any = None,
             sensitive: bool = False) -> Attr:
    return Attr(name, kind, optional=True, force_new=force_new, default=default, sensitive=sensitive)


def computed(name: str, kind: TfType = STR, sensitive: bool = False) -> Attr:
    return Attr(name, kind, computed=True, sensitive=sensitive)


def settable(name: str, kind: TfType = STR, force_new: bool = False) -> Attr:
    """Optional + computed: the cloud fills it in when the configuration leaves it out."""
    return Attr(name, kind, optional=True, computed=True, force_new=force_new)


def region() -> Attr:
    """Every resource of the real provider has it: optional, computed, ForceNew."""
    return settable("region", force_new=True)


class ListNestedBlock(SetNestedBlock):  # type: ignore[misc]
    """A `NestingMode.LIST` block (tf only ships set and single); `force_new` as the SDK's."""

    def __init__(self, type_name: str, block: Block, min_items: int | None = None,
                 max_items: int | None = None, force_new: bool = False) -> None:
        super().__init__(type_name, block)
        self.min_items, self.max_items, self.force_new = min_items, max_items, force_new

    def to_pb(self) -> Any:
        return pb.Schema.NestedBlock(
            type_name=self.type_name, block=self.block.to_pb(), min_items=self.min_items,
            max_items=self.max_items, nesting=pb.Schema.NestedBlock.NestingMode.LIST,
        )

    def semantically_equal(self, a_decoded: Any, b_decoded: Any) -> bool:
        return bool(a_decoded == b_decoded)


class Partial(Exception):
    """The cloud object exists but did not reach its goal: keep `state` (Terraform taints it)."""

    def __init__(self, state: State, cause: CloudError) -> None:
        super().__init__(cause.message)
        self.state, self.cause = state, cause


class ProviderError(Exception):
    """An error the real provider reports in words of its own (its `diag.Errorf`): the
    diagnostic says exactly that, e.g. "Error extending openstack_blockstorage_volume_v3 ..."."""


def _report(ctx: Any, verb: str, exc: BaseException) -> None:
    what = ctx.type_name
    if isinstance(exc, Partial):
        exc = exc.cause
    if isinstance(exc, ProviderError):
        ctx.diagnostics.add_error(str(exc))
    elif isinstance(exc, CloudError):
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

    def region(self, state: State) -> str:
        """The real provider's GetRegion: the resource's own, else the provider's."""
        own = state.get("region")
        return str(own) if known(own) and own else str(self.cloud.creds.region or "")

    @classmethod
    def get_name(cls) -> str:
        return cls.type_suffix

    @classmethod
    def get_schema(cls) -> Schema:
        return cls.schema

    def validate(self, diags: Any, type_name: str, config: State) -> None:
        _validate_config(diags, type_name, config, self.schema.attributes, self.schema.block_types)


def _known_keys(schema: Block | Schema, state: State) -> State:
    """`state` without the attributes the schema no longer has (a state from an older stand-in)."""
    blocks = {b.type_name: b for b in schema.block_types}
    names = {a.name for a in schema.attributes}
    kept: State = {k: v for k, v in state.items() if k in names}
    for name, block in blocks.items():
        items = state.get(name)
        kept[name] = [_known_keys(block.block, i) for i in items] if isinstance(items, list) else items
    return kept


class CloudResource(_OnCloud, ABC):
    """Base of the resources: subclasses implement `_create/_read/_update/_delete` on `self.cloud`.

    As the SDK's resources, create and update end with a read; the plan's known values stay.
    """

    @classmethod
    def customize_diff(cls, prior: State, planned: State) -> list[Path]:
        """The resource's CustomizeDiff: may change `planned`; returns paths that force replacement."""
        return []

    def plan(self, ctx: Any, current: State | None, planned: State) -> State:
        return planned  # sdkdiff.py plans, from the schema

    def upgrade(self, ctx: Any, version: int, old: State) -> State:
        return _known_keys(self.schema, old)

    def create(self, ctx: Any, planned: State) -> State | None:
        try:
            return settle(planned, self._create(planned))
        except Partial as exc:
            _report(ctx, "creating", exc)
            return dict(no_unknowns(exc.state))
        except Exception as exc:
            _report(ctx, "creating", exc)
            return None

    def read(self, ctx: Any, current: State) -> State | None:
        try:
            found = self._read(current)
            return None if found is None else keep_nulls(self.schema, current, found)
        except Exception as exc:
            _report(ctx, "reading", exc)
            return current

    def update(self, ctx: Any, current: State, planned: State) -> State | None:
        try:
            return settle(planned, self._update(current, planned))
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

    def read(self, ctx: Any, config: State) -> State | None:
        for attribute in self.schema.attributes:  # the SDK reads with its defaults filled in
            default = getattr(attribute, "sdk_default", None)
            if config.get(attribute.name) is None and default is not None:
                config[attribute.name] = default
        try:
            found = self._read(config)
        except Exception as exc:
            _report(ctx, "reading", exc)
            return None
        found.setdefault("region", self.region(config))
        # Every attribute must be present in the answer; the ones left out keep the configuration's.
        return {a.name: found.get(a.name, config.get(a.name)) for a in self.schema.attributes}

    @abstractmethod
    def _read(self, config: State) -> State:
        """Each data source's own cloud calls."""
