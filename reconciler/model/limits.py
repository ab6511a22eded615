"""How much one spec may ask for: part of the spec model (spec.py validates with these limits, the
web view refuses a body or a form over them), chosen by the hub's settings (settings.py) with the
defaults below. Bounded specs keep every page, plan and `main.tf` bounded too.

The defaults are sized on the largest real Magic Castle clusters (a few hundred nodes in a handful
of instance groups, three NFS volumes) with room to spare, not on what a file can say: a 4 KB
spec could otherwise ask for 30,000 hosts and a 7 MB cluster page, re-rendered by every poll."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Any

import yaml


@dataclass(frozen=True)
class Limits:
    """Upper bounds on one spec. Each field is a hub setting of the same name (settings.py)."""

    max_instance_groups: int = 50  # prefixes under `instances`; real clusters use 3 to 10
    max_hosts: int = 2000  # the sum of the counts; the largest Magic Castle clusters have hundreds
    max_volumes: int = 200  # volumes built: each volume of a tag, once per host carrying the tag
    max_nb_users: int = 1000  # guest accounts (Magic Castle's training clusters: tens to hundreds)
    # Every name and short string: four times the longest flavor or image names real clouds use
    # (OpenStack allows 255; at 255 the largest spec's cluster page nears 2 MB).
    max_name_length: int = 128
    max_domain_length: int = 253  # a DNS name's limit
    max_public_key_length: int = 8192  # an RSA 16384-bit key is under 3,000 characters
    max_hieradata_length: int = 65536  # the hieradata text
    max_depth: int = 20  # mappings and lists inside one another (a spec needs 5, hieradata a few)


DEFAULT_LIMITS = Limits()
LIMIT_NAMES = tuple(f.name for f in fields(Limits))
MIN_DEPTH = 5  # spec -> volumes -> tag -> name -> volume: a lower max_depth refuses every volume
MAX_REPORTED = 10  # problems reported from one walk; the rest wait until these are fixed
# Strings with a limit of their own (by field path; `*` is any list index); any other string and
# every mapping key is a name (max_name_length).
_STRING_LIMITS = {
    "domain": "max_domain_length",
    "hieradata": "max_hieradata_length",
    "public_keys.*": "max_public_key_length",
}
# libyaml's parser when PyYAML was built with it: ten times faster on a resync of many specs.
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# A string (to its closing quote, or to the end when it has none: every quote is looked at once,
# so the scan stays linear whatever the text), or a bracket.
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\[\s\S])*+(?:"|\\?\Z)|[\[\]{}]')


def over(got: int, what: str, limits: Limits, name: str) -> str:
    """`3000 hosts; at most 2000 (setting max_hosts)`."""
    return f"{got} {what}; at most {getattr(limits, name)} (setting {name})"


def shown(value: str, width: int = 40) -> str:
    """A value as an error message quotes it: never longer than `width` characters."""
    return value if len(value) <= width else value[: width - 1] + "…"


def json_too_deep(text: str, limits: Limits) -> str | None:
    """Why JSON `text` nests deeper than `max_depth` (None: it does not), found by counting
    brackets outside strings, before a recursive parser could reach Python's recursion limit."""
    depth = 0
    for token in _JSON_TOKEN.finditer(text):
        char = token.group()
        if char in "[{":
            depth += 1
            if depth > limits.max_depth:
                return f"nested more than {limits.max_depth} levels deep (setting max_depth)"
        elif char in "]}":
            depth -= 1
    return None


def bounds(data: Any, limits: Limits) -> list[tuple[str, str]]:
    """(field path, message) for each bound that loaded data (a spec, from YAML, JSON or a form)
    exceeds before validation: nesting, string and key lengths, instance groups, volumes listed.
    Iterative, so no shape of data can reach the recursion limit; stops at MAX_REPORTED."""
    problems = _walk(data, limits)
    if isinstance(data, dict):
        instances, volumes = data.get("instances"), data.get("volumes")
        if isinstance(instances, dict) and len(instances) > limits.max_instance_groups:
            problems.append(
                ("instances", over(len(instances), "instance groups", limits, "max_instance_groups"))
            )
        if isinstance(volumes, dict):
            listed = sum(len(v) if isinstance(v, dict) else 1 for v in volumes.values())
            if listed > limits.max_volumes:
                problems.append(("volumes", over(listed, "volumes listed", limits, "max_volumes")))
    return problems[:MAX_REPORTED]


def _walk(data: Any, limits: Limits) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    stack: list[tuple[Any, str, str, int]] = [(data, "", "", 0)]  # value, path, path pattern, depth
    while stack and len(problems) < MAX_REPORTED:
        value, path, pattern, depth = stack.pop()
        if isinstance(value, str):
            limit = _STRING_LIMITS.get(pattern, "max_name_length")
            if len(value) > getattr(limits, limit):
                problems.append((path, over(len(value), "characters", limits, limit)))
            continue
        if not isinstance(value, dict | list):
            continue
        if depth + 1 > limits.max_depth:
            problems.append((path, f"nested more than {limits.max_depth} levels deep (setting max_depth)"))
            continue
        if isinstance(value, list):
            items = pattern + ".*" if pattern else "*"
            stack.extend((v, _join(path, str(i)), items, depth + 1) for i, v in enumerate(value))
            continue
        for key, v in value.items():
            if isinstance(key, str) and len(key) > limits.max_name_length:
                what = f'characters in the name "{shown(key)}"'
                problems.append((path, over(len(key), what, limits, "max_name_length")))
                continue
            stack.append((v, _join(path, str(key)), _join(pattern, str(key)), depth + 1))
    return problems


def _join(path: str, part: str) -> str:
    return f"{path}.{part}" if path else part


class Refused(ValueError):
    """YAML that may not be built into data: too deep, or aliased where aliases are refused."""


def guarded_yaml(text: str, limits: Limits, aliases_refused: str | None) -> Any:
    """YAML text as data, checked on its composed nodes before any value is built: nesting within
    `max_depth` and, with `aliases_refused` (the message), no alias. Raises Refused, YAMLError."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        problem = yaml_node_problem(node, limits, aliases_refused)
        if problem is not None:
            raise Refused(problem)
        return loader.construct_document(node)
    except RecursionError:  # the pure-Python composer (no libyaml) recurses before the check
        raise Refused(f"nested more than {limits.max_depth} levels deep (setting max_depth)") from None
    except yaml.YAMLError as exc:  # libyaml's scanner has a depth limit of its own: say it our way
        if "nesting depth" not in str(getattr(exc, "problem", "") or exc):
            raise
        raise Refused(f"nested more than {limits.max_depth} levels deep (setting max_depth)") from None
    finally:
        loader.dispose()


def yaml_node_problem(node: yaml.Node, limits: Limits, aliases_refused: str | None) -> str | None:
    """Why a composed YAML document may not be built into data (None: it may): it nests deeper
    than `max_depth`, or, when `aliases_refused` is given (the message), it uses an alias, which
    could expand a few hundred bytes into gigabytes ("billion laughs"). Walks each node once."""
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, int]] = [(node, 1)]
    while stack:
        current, depth = stack.pop()
        if id(current) in seen:  # the composer hands an alias its anchor's node: met twice
            if aliases_refused is not None:
                return aliases_refused
            continue
        seen.add(id(current))
        if isinstance(current, yaml.ScalarNode):
            continue
        if depth > limits.max_depth:
            line = current.start_mark.line + 1 if current.start_mark else 0
            return f"line {line}: nested more than {limits.max_depth} levels deep (setting max_depth)"
        if isinstance(current, yaml.SequenceNode):
            stack.extend((child, depth + 1) for child in current.value)
        else:
            stack.extend((part, depth + 1) for pair in current.value for part in pair)
    return None
