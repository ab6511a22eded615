"""Records -> what pages and the JSON API show: phase labels, progress counts, a cluster's hosts with
their IPs, its volumes and outputs, quota bars, log tails. Pure functions over read data."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

from reconciler.cloud.figures import PARTS, QUOTA_KEYS, QUOTA_LABELS, QUOTA_PARTS, QUOTA_UNITS
from reconciler.model.expiry import describe
from reconciler.model.files import UnreadableFile, read_head, read_tail
from reconciler.model.provisioning import login_address
from reconciler.model.spec import ClusterSpec
from reconciler.model.status import ERROR_PHASES, RUNNING_PHASES, Phase, Status
from webview import redact

HIDDEN = redact.HIDDEN
# phase -> (words shown on the chip, tone used by the stylesheet)
PHASES: dict[str, tuple[str, str]] = {
    "pending": ("pending", "neutral"),
    "invalid": ("invalid spec", "error"),
    "plan_running": ("planning", "running"),
    "plan_error": ("plan error", "error"),
    "awaiting_approval": ("awaiting approval", "warn"),
    "build_running": ("building", "running"),
    "build_error": ("build error", "error"),
    "build_success": ("build success", "ok"),
    "destroy_running": ("destroying", "running"),
    "destroy_error": ("destroy error", "error"),
    "destroyed": ("destroyed", "muted"),
}
INSTANCE_RE = re.compile(r'openstack_compute_instance_v2\.instances\["([^"]+)"\]$')
VOLUME_RE = re.compile(r'openstack_blockstorage_volume_v[23]\.volumes\["([^"]+)"\]$')


# Reasons that outrank the phase on a cluster's chip: one waiting for quota says so (a built one keeps
# running as built meanwhile; the page says the change waits).
REASON_CHIPS: dict[str, tuple[str, str]] = {"quota_wait": ("waiting for quota", "warn")}
# What the cluster page's script relabels the chip with: phases, and reasons as `reason:<name>`.
CHIPS = {**PHASES, **{f"reason:{r}": chip for r, chip in REASON_CHIPS.items()}}


def chip_of(phase: str, reason: str = "") -> tuple[str, str, str]:
    """(words, tone, the reason shown or "") of a cluster's chip: its reason's when that outranks
    the phase, else its phase's."""
    if reason in REASON_CHIPS:
        return (*REASON_CHIPS[reason], reason)
    return (*PHASES.get(phase, (phase, "neutral")), "")


def phase_label(phase: str) -> str:
    return PHASES.get(phase, (phase, "neutral"))[0]


def phase_tone(phase: str) -> str:
    return PHASES.get(phase, (phase, "neutral"))[1]


def is_running(phase: str) -> bool:
    return phase in {p.value for p in RUNNING_PHASES}


def is_error(phase: str) -> bool:
    return phase in {p.value for p in ERROR_PHASES} or phase == Phase.INVALID.value


def progress_counts(status: Status | None) -> dict[str, int]:
    counts = {"queued": 0, "running": 0, "done": 0, "failed": 0}
    for item in (status.progress if status else {}).values():
        counts[item.state] += 1
    total = sum(counts.values())
    return {**counts, "total": total, "percent": round(100 * counts["done"] / total) if total else 0}


def status_json(name: str, status: Status | None) -> dict[str, Any]:
    """`GET /api/clusters/{name}/status`: MC Hub's `status` key plus the hub's record."""
    if status is None:
        return {
            "name": name,
            "status": "pending",
            "reason": "new_spec",
            "message": "waiting for the reconciler to read the spec",
            "progress": {},
            "counts": progress_counts(None),
            "updated_at": None,
        }
    data = status.model_dump(mode="json", exclude={"name", "phase"})
    return {"name": name, "status": status.phase.value, **data, "counts": progress_counts(status)}


def _hosts_state(status: Status | None) -> tuple[dict[str, str], dict[str, str]]:
    """Per host and per volume key: its progress while a run goes on; otherwise built (in the
    state), failed (the last run failed on it), destroyed, or nothing (not built)."""
    hosts: dict[str, str] = {}
    vols: dict[str, str] = {}
    if status is None:
        return hosts, vols
    running = status.phase in RUNNING_PHASES

    def put(address: str, state: str) -> None:
        if m := INSTANCE_RE.search(address):
            hosts[m.group(1)] = state
        elif m := VOLUME_RE.search(address):
            vols[m.group(1)] = state

    for address in status.resources:
        put(address, "built")
    for address, item in status.progress.items():
        if running:
            put(address, "deleted" if item.action == "delete" and item.state == "done" else item.state)
        elif item.state == "failed":
            put(address, "failed")
    if status.phase == Phase.DESTROYED:
        hosts = dict.fromkeys(hosts, "destroyed")
        vols = dict.fromkeys(vols, "destroyed")
    return hosts, vols


def _unwrap(value: Any) -> Any:
    # Outputs are recorded unwrapped; accept Terraform's {"value": ...} form too.
    if isinstance(value, dict) and set(value) >= {"value"} and set(value) <= {"value", "type", "sensitive"}:
        return value["value"]
    return value


def instances(spec: ClusterSpec | None, status: Status | None) -> list[dict[str, Any]]:
    if spec is None:
        return []
    outputs = status.outputs if status else {}
    public_ip = _unwrap(outputs.get("public_ip")) or {}
    public = _unwrap(outputs.get("public_instances")) or {}
    states, _ = _hosts_state(status)
    rows = []
    for prefix, inst in spec.instances.items():
        for host in spec.hostnames_of(prefix):
            info = public.get(host) if isinstance(public, dict) else None
            info = info if isinstance(info, dict) else {}
            ip = public_ip.get(host) if isinstance(public_ip, dict) else None
            rows.append(
                {
                    "host": host,
                    "prefix": prefix,
                    "type": inst.type,
                    "tags": inst.tags,
                    "public_ip": ip or info.get("public_ip") or "",
                    "local_ip": info.get("local_ip", ""),
                    "state": states.get(host, ""),
                }
            )
    return rows


def volumes(spec: ClusterSpec | None, status: Status | None) -> list[dict[str, Any]]:
    if spec is None:
        return []
    _, states = _hosts_state(status)
    rows = []
    for host, inst in spec.hosts().items():
        for tag in inst.tags:
            for vname, vol in spec.volumes.get(tag, {}).items():
                key = f"{host}-{tag}-{vname}"
                rows.append(
                    {
                        "key": key,
                        "host": host,
                        "tag": tag,
                        "name": vname,
                        "size": vol.size,
                        "type": vol.type or "",
                        "state": states.get(key, ""),
                    }
                )
    return rows


def guest_usernames(spec: ClusterSpec) -> list[str]:
    """Magic Castle's guest accounts: user1..userN, zero-padded to the width of N."""
    width = len(str(spec.nb_users))
    return [f"user{i:0{width}d}" for i in range(1, spec.nb_users + 1)]


def access(spec: ClusterSpec | None, status: Status | None) -> dict[str, Any]:
    """Login address, SSH command and accounts, from the spec and the recorded outputs."""
    if spec is None:
        return {}
    outputs = status.outputs if status else {}
    public_ip = _unwrap(outputs.get("public_ip")) or {}
    login_host, ip = login_address(spec, outputs)  # the host the readiness check knocks on, too
    domain = _unwrap(outputs.get("domain")) or spec.domain
    name = _unwrap(outputs.get("cluster_name")) or spec.cluster_name
    users = guest_usernames(spec)
    return {
        "login_host": login_host,
        "login_ip": ip,
        "hostname": f"{name}.{domain}",
        "ssh": f"ssh {spec.sudoer_username}@{ip}" if ip else "",
        "sudoer": spec.sudoer_username,
        "guests": users,
        "guests_text": f"{users[0]} … {users[-1]}" if len(users) > 2 else ", ".join(users),
        "public_ip": public_ip if isinstance(public_ip, dict) else {},
    }


# provisioning state -> (words on its chip, tone)
PROVISIONING_TONES = {
    "waiting": ("waiting", "running"),
    "ready": ("ready", "ok"),
    "error": ("not ready", "error"),
}


def provisioning(status: Status | None) -> dict[str, Any] | None:
    """Readiness after the last build, as the cluster page and its success dialog show it: the
    state in words, the record's message, the web services that answer (links) and every check."""
    prov = status.provisioning if status is not None else None
    if prov is None:
        return None
    label, tone = PROVISIONING_TONES[prov.state]
    links = [{"label": c.label, "url": c.target} for c in prov.links()]
    return {"state": prov.state, "label": label, "tone": tone, "message": prov.message, "links": links,
            "checks": prov.checks, "started_at": prov.started_at}  # fmt: skip


def expiry(spec: ClusterSpec | None, today: dt.date) -> dict[str, Any] | None:
    """`{"date", "days_left", "text", "warning"}` for a spec with `expires`, else None. No warning
    for a cluster already asked to go (`ensure: absent`)."""
    seen = describe(spec.expires, today) if spec is not None else None
    return seen.as_json(warn=spec.ensure == "present") if seen is not None and spec is not None else None


def redact_spec_text(text: str, spec: ClusterSpec | None) -> str:
    """The spec as written, with every password in it hidden, in any YAML style, valid or not
    (webview/redact.py)."""
    return redact.redact_spec_text(text, spec.guest_passwd if spec is not None else None)


def public_spec(spec: ClusterSpec) -> dict[str, Any]:
    data = spec.canonical()
    if data.get("guest_passwd"):
        data["guest_passwd"] = HIDDEN
    return data


def log_tail(path: Path, lines: int = 40, max_bytes: int = 64 * 1024) -> str:
    """The last lines of a run log; nothing for anything but a regular file (never a link)."""
    try:
        data = read_tail(path, max_bytes)
    except (OSError, UnreadableFile):
        return ""
    text = data.decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def read_limited(path: Path, max_bytes: int = 512 * 1024) -> str | None:
    """The start of a regular file (never a link), marked when cut; None when it cannot be read."""
    try:
        data = read_head(path, max_bytes)
    except (OSError, UnreadableFile):
        return None
    text = data[:max_bytes].decode("utf-8", errors="replace")
    return text + ("\n… (truncated)" if len(data) > max_bytes else "")


# The catalog's parts (figures.PARTS) as people call them: one the cloud did not show is named.
PART_LABELS = {"flavors": "Flavors", "images": "Images", "networks": "Networks",
               "volume_types": "Volume types", "compute_quotas": "Compute quotas",
               "volume_quotas": "Volume quotas", "network_quotas": "Network quotas"}  # fmt: skip


def unknown_parts(payload: dict[str, Any]) -> list[dict[str, str]]:
    """The catalog's parts the cloud did not show this time, with why (the payload's `unknown`):
    their figures are unknown, never zero nor unlimited."""
    unknown = payload.get("unknown")
    unknown = unknown if isinstance(unknown, dict) else {}
    order = [p for p in PARTS if p in unknown] + sorted(p for p in unknown if p not in PARTS)
    return [{"part": p, "label": PART_LABELS.get(p, str(p)), "message": str(unknown[p])} for p in order]


def quota_rows(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """One bar per quota: in use by others, free; None limits are unlimited. A quota whose part the
    cloud did not show is `unknown` (its part's label and message): no bar, no figures."""
    quotas = payload.get("quotas") or {}
    why = {u["part"]: u["message"] for u in unknown_parts(payload)}
    rows = []
    for key in QUOTA_KEYS:
        q = quotas.get(key)
        if not isinstance(q, dict):
            continue
        part = QUOTA_PARTS.get(key, "")
        if q.get("unknown"):
            message = why.get(part) or "the cloud did not show it"
            rows.append({"key": key, "label": QUOTA_LABELS[key], "unit": QUOTA_UNITS.get(key, ""),
                         "limit": None, "used": None, "remaining": None, "percent": 0, "tone": "unknown",
                         "limit_text": "unknown", "remaining_text": "unknown", "unknown": message,
                         "part": PART_LABELS.get(part, part)})  # fmt: skip
            continue
        limit, in_use, left = q.get("limit"), int(q.get("in_use") or 0), q.get("remaining")
        used = limit - left if limit is not None and left is not None else in_use
        pct = min(100, round(100 * used / limit)) if limit else 0
        tone = (
            "error"
            if limit is not None and left is not None and left <= 0
            else ("warn" if pct >= 80 else "ok")
        )
        rows.append(
            {
                "key": key,
                "label": QUOTA_LABELS[key],
                "unit": QUOTA_UNITS.get(key, ""),
                "limit": limit,
                "used": used,
                "remaining": left,
                "percent": pct,
                "tone": tone,
                "limit_text": amount(key, limit),
                "remaining_text": amount(key, left),
                "unknown": "",
            }
        )
    return rows


def amount(key: str, value: int | None) -> str:
    """A quota figure as people read it: RAM in GiB, storage in GB, None as unlimited."""
    if value is None:
        return "unlimited"
    if key == "ram":
        return f"{round(value / 1024, 1):g} GiB"
    if key == "gigabytes":
        return f"{value} GB"
    return str(value)


def timestamp(value: float | dt.datetime | None) -> str:
    """ISO 8601 in UTC for `<time datetime=...>` (the browser shows it relative)."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    else:
        moment = dt.datetime.fromtimestamp(value, dt.UTC)
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def short_time(value: float | dt.datetime | None) -> str:
    stamp = timestamp(value)
    return stamp.replace("T", " ").removesuffix("Z") + " UTC" if stamp else ""
