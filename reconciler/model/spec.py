"""The cluster spec: first stage of the flow (load -> validate). One pydantic model is the only
definition of what a `specs/<name>.yaml` may say; Magic Castle's field names and plan-time rules."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import unicodedata
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from reconciler.model.files import FileRefused, read_regular
from reconciler.model.limits import (
    DEFAULT_LIMITS,
    Limits,
    Refused,
    bounds,
    guarded_yaml,
    json_too_deep,
    over,
    shown,
)
from reconciler.model.sshkeys import PUBLIC_KEY_PATTERN, valid_key

# Used with fullmatch: `$` alone also matches before a final newline ("demo\n").
CLUSTER_NAME_RE = re.compile(r"^[a-z][0-9a-z-]{1,40}$")
DOMAIN_RE = re.compile(r"^[a-z][0-9a-z-.]*$")
HOSTNAME_RE = re.compile(r"^[a-z][0-9a-z-]{1,63}$")
# What a prefix must be for its first host (`<prefix>1`) to match HOSTNAME_RE: published in the schema.
PREFIX_PATTERN = r"^[a-z][0-9a-z-]{0,62}$"
# fmt: off
KNOWN_TAGS = (
    "login", "proxy", "public", "puppet", "mgmt", "nfs", "node", "pool", "spot", "efa", "dtn", "bastion",
)
# fmt: on
MAX_SPEC_BYTES = 256 * 1024
MAX_ERRORS = 50  # problems listed for one spec
ALIASES_REFUSED = "YAML aliases (*name) are not allowed in specs; write the values out"


class FieldError(BaseModel):
    """One problem with a spec, located by its field path (e.g. `instances.node.count`)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class SpecError(Exception):
    """A spec that cannot be used as written. Permanent: waits for the file to change."""

    def __init__(self, errors: list[FieldError], source: str = "") -> None:
        self.errors = errors
        self.source = source
        super().__init__("; ".join(str(e) for e in errors))


def _nfc(value: Any) -> Any:
    # Terraform's HCL parser normalises string literals to NFC; normalising here keeps the spec,
    # its hash and what Terraform sees byte-for-byte identical.
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, list):
        return [_nfc(v) for v in value]
    if isinstance(value, dict):
        return {_nfc(k): _nfc(v) for k, v in value.items()}
    return value


def _limits(info: ValidationInfo) -> Limits:
    """The limits this validation was given (`parse_spec(..., limits=)`), else the defaults."""
    given = info.context.get("limits") if isinstance(info.context, dict) else None
    return given if isinstance(given, Limits) else DEFAULT_LIMITS


# Parsed as Nova and OpenSSH read it (model/sshkeys.py); the schema's pattern is a first filter only.
PublicKey = Annotated[
    str, AfterValidator(valid_key), Field(json_schema_extra={"pattern": PUBLIC_KEY_PATTERN})
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


class Instance(_Strict):
    """One prefix of `instances`: `count` hosts named `<prefix>1..<prefix><count>`."""

    type: str = Field(min_length=1, description="Flavor name, e.g. p4-6gb")
    tags: list[str] = Field(
        default_factory=list,
        description="Roles: " + ", ".join(KNOWN_TAGS),
        json_schema_extra={"items": {"type": "string", "enum": list(KNOWN_TAGS)}, "uniqueItems": True},
    )
    count: int = Field(default=1, ge=0, le=500)
    disk_size: int | None = Field(default=None, ge=10, le=16384, description="Root disk in GB")
    image: str | None = Field(default=None, min_length=1, description="Overrides the cluster image")

    @field_validator("tags")
    @classmethod
    def _known_tags(cls, tags: list[str]) -> list[str]:
        for tag in tags:
            if tag not in KNOWN_TAGS:
                raise ValueError(f'unknown tag "{shown(tag)}"; choose among {", ".join(KNOWN_TAGS)}')
        if len(set(tags)) != len(tags):
            raise ValueError("a tag is listed twice")
        return tags


class Volume(_Strict):
    size: int = Field(ge=1, le=65536, description="Size in GB")
    type: str | None = Field(default=None, min_length=1, description="Volume type")


class ClusterSpec(_Strict):
    """A Magic Castle cluster as the hub keeps it. Field names are Magic Castle's."""

    # The patterns are published in the schema (the form's script checks with them); the validators
    # below apply the same expressions, with messages that teach.
    cluster_name: str = Field(
        description="Lower-case name, 2 to 41 characters",
        json_schema_extra={"pattern": CLUSTER_NAME_RE.pattern},
    )
    domain: str = Field(description="DNS domain", json_schema_extra={"pattern": DOMAIN_RE.pattern})
    image: str = Field(min_length=1, description="Image name in the cloud")
    nb_users: int = Field(
        default=0, ge=0, description="Guest accounts user01..userNN; at most 1000 (setting max_nb_users)"
    )
    instances: dict[str, Instance] = Field(
        min_length=1, json_schema_extra={"propertyNames": {"pattern": PREFIX_PATTERN}}
    )
    volumes: dict[str, dict[str, Volume]] = Field(default_factory=dict)
    public_keys: list[PublicKey] = Field(min_length=1, description="SSH public keys of the sudoer")
    hieradata: str = Field(default="---", description="Extra hieradata, as YAML text")
    guest_passwd: str | None = Field(
        default=None,
        description="Guest password; omit it to let the hub generate and keep one",
        json_schema_extra={"anyOf": [{"type": "string", "minLength": 8}, {"const": ""}, {"type": "null"}]},
    )
    sudoer_username: str = Field(default="centos", pattern=r"^[a-z_][a-z0-9_-]{0,31}$")
    cloud: str | None = Field(
        default=None, min_length=1, description="clouds.yaml entry; default from settings"
    )
    project: str | None = Field(
        default=None, min_length=1, max_length=63,
        description="The project it belongs to (the settings' projects:); it runs on the project's cloud",
    )  # fmt: skip
    ensure: Literal["present", "absent"] = "present"
    apply: Literal["auto", "manual"] = "auto"
    expires: dt.date | None = Field(default=None, description="The cluster is destroyed after this date")

    @model_validator(mode="before")
    @classmethod
    def _normalise(cls, data: Any, info: ValidationInfo) -> Any:
        # The bounds first: nesting, lengths and counts that would make validating (or showing)
        # the rest costly; nothing past them is looked at.
        problems = bounds(data, _limits(info))
        if problems:
            raise SpecError([FieldError(path=p, message=m) for p, m in problems])
        return _nfc(data)

    @field_validator("cluster_name")
    @classmethod
    def _cluster_name(cls, v: str) -> str:
        if not CLUSTER_NAME_RE.fullmatch(v):
            raise ValueError(
                f'"{shown(v)}" is not a valid name: start with a lower-case letter, then 1 to 40 '
                "lower-case letters, digits or dashes"
            )
        return v

    @field_validator("domain")
    @classmethod
    def _domain(cls, v: str) -> str:
        if not DOMAIN_RE.fullmatch(v):
            raise ValueError(
                f'"{shown(v)}" is not a valid domain: lower-case letters, digits, dashes and dots'
            )
        return v

    @field_validator("nb_users")
    @classmethod
    def _nb_users(cls, v: int, info: ValidationInfo) -> int:
        limits = _limits(info)
        if v > limits.max_nb_users:
            raise ValueError(over(v, "guest accounts", limits, "max_nb_users"))
        return v

    @field_validator("guest_passwd")
    @classmethod
    def _passwd(cls, v: str | None) -> str | None:
        if v is not None and v != "" and len(v) < 8:
            raise ValueError("must be empty or at least 8 characters")
        return v

    @field_validator("hieradata")
    @classmethod
    def _hieradata(cls, v: str, info: ValidationInfo) -> str:
        try:
            guarded_yaml(v, _limits(info), aliases_refused=None)  # Hiera allows aliases
        except Refused as exc:
            raise ValueError(f"not valid here: {exc}") from None
        except yaml.YAMLError as exc:
            raise ValueError(f"not valid YAML: {_yaml_problem(exc)}") from None
        return v

    @model_validator(mode="after")
    def _cluster_rules(self, info: ValidationInfo) -> ClusterSpec:
        too_big = self._over_limits(_limits(info))
        if too_big:
            raise SpecError(too_big)  # before the rules below, which look at every host
        errors: list[tuple[str, str]] = []
        seen: dict[str, str] = {}
        for prefix, inst in self.instances.items():
            last = f"{prefix}{max(inst.count, 1)}"
            if not HOSTNAME_RE.fullmatch(last):
                errors.append(
                    (f"instances.{prefix}", f'host name "{last}" must match ^[a-z][0-9a-z-]{{1,63}}$')
                )
            for host in self.hostnames_of(prefix):
                if host in seen:
                    errors.append(
                        (f"instances.{prefix}", f'host "{host}" is also produced by "{seen[host]}"')
                    )
                seen[host] = prefix
        proxies = sum(i.count for i in self.instances.values() if "proxy" in i.tags)
        if proxies > 1:
            errors.append(("instances", f"at most one instance may carry the proxy tag; {proxies} do"))
        logins = [p for p, i in self.instances.items() if "login" in i.tags]
        if len(logins) > 1:
            errors.append(
                ("instances", f"at most one prefix may carry the login tag; {', '.join(logins)} do")
            )
        tags_in_use = sorted({t for i in self.instances.values() for t in i.tags})
        for tag in self.volumes:
            if tag not in tags_in_use:
                errors.append(
                    (
                        f"volumes.{tag}",
                        f'no instance carries the tag "{tag}"; tags in use: {", ".join(tags_in_use)}',
                    )
                )
        if errors:
            raise SpecError([FieldError(path=p, message=m) for p, m in errors])
        return self

    def _over_limits(self, limits: Limits) -> list[FieldError]:
        errors = []
        hosts = sum(i.count for i in self.instances.values())
        if hosts > limits.max_hosts:
            errors.append(FieldError(path="instances", message=over(hosts, "hosts", limits, "max_hosts")))
        built = self.volume_count()
        if built > limits.max_volumes:
            what = "volumes (each volume of a tag, once per host with that tag)"
            errors.append(FieldError(path="volumes", message=over(built, what, limits, "max_volumes")))
        return errors

    def volume_count(self) -> int:
        """How many volumes the spec builds: each volume of a tag, once per host carrying the tag."""
        return sum(
            i.count * sum(len(self.volumes.get(tag, {})) for tag in i.tags) for i in self.instances.values()
        )

    def hostnames_of(self, prefix: str) -> list[str]:
        return [f"{prefix}{i}" for i in range(1, self.instances[prefix].count + 1)]

    def hosts(self) -> dict[str, Instance]:
        """Every host the spec asks for, `<prefix><i>` -> its instance entry."""
        return {h: inst for p, inst in self.instances.items() for h in self.hostnames_of(p)}

    def canonical(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


def spec_digest(spec: ClusterSpec) -> str:
    """A stable hash of what the spec asks for (key order, comments and defaults do not matter)."""
    blob = json.dumps(spec.canonical(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}" if mark else str(problem)


def _path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc)


def _pydantic_errors(exc: ValidationError) -> list[FieldError]:
    out: list[FieldError] = []
    found = exc.errors(include_url=False)
    for err in found[:MAX_ERRORS]:
        ctx_error = (err.get("ctx") or {}).get("error")
        if isinstance(ctx_error, SpecError):
            out.extend(ctx_error.errors)
            continue
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "literal_error":
            msg = f"{msg} (got {shown(repr(err['input']))})"
        elif err["type"] == "extra_forbidden":
            msg = "unknown field; see `mchub schema` for the fields a spec may have"
        out.append(FieldError(path=_path(err["loc"]), message=msg))
    if len(found) > MAX_ERRORS:  # a page or an answer of 25,000 "unknown field" helps no one
        out.append(FieldError(path="", message=f"{len(found) - MAX_ERRORS} more problems; fix these first"))
    return out


def parse_spec(data: Any, source: str = "", limits: Limits = DEFAULT_LIMITS) -> ClusterSpec:
    """Validate already-loaded data (from YAML or the web form) into a spec, or raise SpecError.
    `limits`: the hub's (Settings.limits); the defaults otherwise."""
    if not isinstance(data, dict):
        raise SpecError([FieldError(path="", message="a spec must be a YAML mapping of fields")], source)
    try:
        return ClusterSpec.model_validate(data, context={"limits": limits})
    except ValidationError as exc:
        raise SpecError(_pydantic_errors(exc), source) from None
    except SpecError as exc:
        raise SpecError(exc.errors, source) from None


def _size_checked(text: str, source: str) -> str:
    if len(text.encode()) > MAX_SPEC_BYTES:
        raise SpecError([FieldError(path="", message=f"spec is larger than {MAX_SPEC_BYTES} bytes")], source)
    return text


def load_yaml(text: str, source: str = "", limits: Limits = DEFAULT_LIMITS) -> Any:
    """YAML text as data, for a spec file or a spec sent to the API: size-limited, nesting within
    `max_depth`, aliases refused, all checked before any value is built. Raises SpecError."""
    try:
        return guarded_yaml(_size_checked(text, source), limits, ALIASES_REFUSED)
    except Refused as exc:
        raise SpecError([FieldError(path="", message=str(exc))], source) from None
    except yaml.YAMLError as exc:
        raise SpecError(
            [FieldError(path="", message=f"invalid YAML: {_yaml_problem(exc)}")], source
        ) from None


def load_json(text: str, source: str = "", limits: Limits = DEFAULT_LIMITS) -> Any:
    """JSON text as data, for a spec sent to the API: size-limited, nesting within `max_depth`
    (checked before parsing, so no body reaches the recursion limit). Raises SpecError."""
    too_deep = json_too_deep(_size_checked(text, source), limits)
    if too_deep is not None:
        raise SpecError([FieldError(path="", message=too_deep)], source)
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise SpecError([FieldError(path="", message=f"invalid JSON: {exc}")], source) from None
    try:  # `\ud800` alone is valid JSON but no text: nothing could quote it back, or write it
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        message = "invalid JSON: it holds a lone surrogate escape (\\ud800-\\udfff), which is no character"
        raise SpecError([FieldError(path="", message=message)], source) from None
    return data


def parse_yaml(text: str, source: str = "", limits: Limits = DEFAULT_LIMITS) -> ClusterSpec:
    return parse_spec(load_yaml(text, source, limits), source, limits)


def read_spec_text(path: Path) -> str:
    """A spec file's text: a regular file (never a link) of at most MAX_SPEC_BYTES, in UTF-8."""
    try:
        return read_regular(path, MAX_SPEC_BYTES, path.name).decode("utf-8")
    except FileRefused as exc:
        raise SpecError([FieldError(path="", message=exc.problem)], str(path)) from None
    except UnicodeDecodeError:
        raise SpecError([FieldError(path="", message="file is not UTF-8 text")], str(path)) from None


def parse_spec_file(text: str, path: Path, limits: Limits = DEFAULT_LIMITS) -> ClusterSpec:
    """The text of `specs/<name>.yaml`; the file stem must equal `cluster_name`. Reports every problem."""
    data = load_yaml(text, str(path), limits)
    errors: list[FieldError] = []
    if isinstance(data, dict) and data.get("cluster_name") != path.stem:
        got = data.get("cluster_name")
        what = (
            f'"{shown(str(got))}" must equal the file name "{path.stem}"'
            if got
            else f'missing; it must be "{path.stem}"'
        )
        errors.append(FieldError(path="cluster_name", message=what))
    try:
        spec = parse_spec(data, str(path), limits)
    except SpecError as exc:
        errors += [e for e in exc.errors if e.path != "cluster_name" or not errors]
    if errors:
        raise SpecError(errors, str(path))
    return spec


def load_spec(path: Path, limits: Limits = DEFAULT_LIMITS) -> ClusterSpec:
    """Read and validate `specs/<name>.yaml`."""
    return parse_spec_file(read_spec_text(path), path, limits)


def dump_yaml(spec: ClusterSpec) -> str:
    """The spec as the web form writes it: fields in model order, unset optional fields left out."""
    data = spec.model_dump(mode="json", exclude_none=True)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False)


def json_schema(limits: Limits = DEFAULT_LIMITS) -> dict[str, Any]:
    """The spec's JSON Schema (`mchub schema`, `GET /api/schema`, the form's script), with the
    hub's limits where a field's bound is a setting."""
    schema = ClusterSpec.model_json_schema()
    schema["properties"]["nb_users"]["maximum"] = limits.max_nb_users
    schema["properties"]["public_keys"]["items"]["maxLength"] = limits.max_public_key_length
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "MC Hub cluster spec"
    return schema
