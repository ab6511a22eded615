"""Test doubles for the web view: a catalog with fixed figures (the sandbox's seed), status records
written the way the reconciler writes them, and a stand-in reconciler that walks a spec through
pending -> plan_running -> build_running -> build_success without Terraform, and previews that
answer without Terraform."""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path
from typing import Any

from reconciler.cloud.figures import QUOTA_PARTS
from reconciler.model import runs
from reconciler.model.projects import Project
from reconciler.model.settings import Settings
from reconciler.model.spec import ClusterSpec, SpecError, load_spec, spec_digest
from reconciler.model.status import (
    Phase,
    PlanInfo,
    Reason,
    ResourceProgress,
    Status,
    read_status,
    write_status,
)
from webview.state import PreviewFailed

FLAVORS = [
    {"name": "p1-1.5gb", "vcpus": 1, "ram": 1536, "disk": 0, "roles": []},
    {"name": "p2-3gb", "vcpus": 2, "ram": 3072, "disk": 0, "roles": ["login", "node"]},
    {"name": "p4-6gb", "vcpus": 4, "ram": 6144, "disk": 0, "roles": ["mgmt", "login", "node"]},
    {"name": "p8-12gb", "vcpus": 8, "ram": 12288, "disk": 0, "roles": ["mgmt", "login", "node"]},
    {"name": "c4-15gb-83", "vcpus": 4, "ram": 15360, "disk": 83, "roles": ["mgmt", "login", "node"]},
]
LIMITS = {"instances": 20, "cores": 64, "ram": 131072, "volumes": 20, "gigabytes": 2000, "floating_ips": 4}
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPMT9GXhBldsu07Rklam11D72R5uODSJtBW9p5nUB9bI test@example.org"


class FakeCatalog:
    """Fixed figures; `in_use` can be changed by a test. Records the questions asked."""

    def __init__(self, in_use: dict[str, int] | None = None, error: str | None = None) -> None:
        self.in_use = dict.fromkeys(LIMITS, 0) | (in_use or {})
        self.error = error
        self.calls: list[tuple[str | None, str | None]] = []
        self.fetched_at = "2026-01-01T00:00:00Z"
        self.refreshes: list[str | None] = []
        # What a test may change: the cloud's volume types, and parts it "could not read".
        self.volume_types: list[dict[str, Any]] = []
        self.unknown: dict[str, str] = {}

    def refresh(self, cloud_name: str | None = None) -> None:
        """Like reconciler.cloud.catalog.Catalog.refresh: fetch now (here: just say so)."""
        self.refreshes.append(cloud_name)
        self.fetched_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")

    def payload(self, cloud_name: str | None, cluster: str | None, clusters_dir: Path) -> dict[str, Any]:
        self.calls.append((cloud_name, cluster))
        quotas = {
            k: {"limit": v, "in_use": self.in_use[k], "remaining": v - self.in_use[k], "cluster_usage": 0}
            for k, v in LIMITS.items()
        }
        unknown = {"limit": None, "in_use": None, "remaining": None, "cluster_usage": 0, "unknown": True}
        for k in quotas:  # a quota part not read: unknown, as reconciler.cloud.payload says it
            if QUOTA_PARTS[k] in self.unknown:
                quotas[k] = dict(unknown)
        by_role = {r: [f["name"] for f in FLAVORS if r in f["roles"]] for r in ("mgmt", "login", "node")}
        return {
            "cloud": cloud_name or "sandbox",
            "cluster": cluster,
            "fetched_at": self.fetched_at,
            "age_seconds": 3.0,
            "stale": False,
            "error": self.error,
            "quotas": quotas,
            "flavors": [dict(f, boot_volume_gb=10) for f in FLAVORS],
            "flavors_by_role": by_role,
            "images": ["Rocky-9", "AlmaLinux-9", "Ubuntu-22.04"],
            "networks": [{"name": "public", "external": True}],
            "volume_types": list(self.volume_types),
            "unknown": dict(self.unknown),
        }


def spec_dict(name: str = "alpha", **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "cluster_name": name,
        "domain": "sandbox.localdomain",
        "image": "Rocky-9",
        "nb_users": 5,
        "instances": {
            "mgmt": {"type": "p4-6gb", "tags": ["puppet", "mgmt", "nfs"], "count": 1},
            "login": {"type": "p2-3gb", "tags": ["login", "public", "proxy"], "count": 1},
            "node": {"type": "p2-3gb", "tags": ["node"], "count": 2},
        },
        "volumes": {"nfs": {"home": {"size": 100}, "project": {"size": 50}, "scratch": {"size": 50}}},
        "public_keys": [KEY],
    }
    data.update(changes)
    return data


NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)


def addresses(spec_data: dict[str, Any]) -> list[str]:
    out = []
    for prefix, inst in spec_data["instances"].items():
        for i in range(1, inst["count"] + 1):
            host = f"{prefix}{i}"
            out.append(f'module.openstack.openstack_compute_instance_v2.instances["{host}"]')
            for tag in inst["tags"]:
                for vol in spec_data.get("volumes", {}).get(tag, {}):
                    out.append(
                        f'module.openstack.openstack_blockstorage_volume_v3.volumes["{host}-{tag}-{vol}"]'
                    )
    return out


def outputs(spec_data: dict[str, Any]) -> dict[str, Any]:
    public = {}
    n = 10
    for prefix, inst in spec_data["instances"].items():
        for i in range(1, inst["count"] + 1):
            n += 1
            if "public" in inst["tags"]:
                public[f"{prefix}{i}"] = {
                    "public_ip": f"198.51.100.{n}",
                    "local_ip": f"10.0.0.{n}",
                    "prefix": prefix,
                    "tags": inst["tags"],
                }
    return {
        "public_ip": {h: v["public_ip"] for h, v in public.items()},
        "public_instances": public,
        "cluster_name": spec_data["cluster_name"],
        "domain": spec_data["domain"],
        "accounts": {"guests": {"usernames": "user[1-5]", "password": "(hidden)"}},
    }


def write_phase(
    clusters: Path,
    name: str,
    phase: str,
    spec_data: dict[str, Any] | None = None,
    message: str = "",
    when: dt.datetime | None = None,
    done: int | None = None,
) -> Status:
    """A status as the reconciler would have written it at that phase."""
    now = when or dt.datetime.now(dt.UTC)
    data = spec_data or spec_dict(name)
    status = read_status(clusters, name) or Status(name=name)
    addrs = addresses(data)
    run_id = runs.new_run_id(now, "apply")
    if phase == "pending":
        status = Status(name=name, updated_at=now)
    elif phase in ("plan_running", "build_running", "destroy_running"):
        if status.phase.value.endswith("_running") and status.run_id:
            status = status._to(now, phase=Phase(phase))  # the same run goes on
        else:
            status = status.started(now, Phase(phase), Reason.NEW_SPEC, run_id, "h1")
            _record(clusters, name, run_id, now, "running", phase)
        upto = len(addrs) // 2 if done is None else done
        action = "delete" if phase == "destroy_running" else "create"
        progress = {
            a: ResourceProgress(
                action=action, state="done" if i < upto else ("running" if i == upto else "queued")
            )
            for i, a in enumerate(addrs)
        }
        if phase != "plan_running":
            status = status.progressed(now, progress)
    elif phase == "build_success":
        progress = {a: ResourceProgress(action="create", state="done") for a in addrs}
        if status.run_id and status.phase.value.endswith("_running"):
            _record(clusters, name, status.run_id, now, "succeeded", phase)
        status = status.applied(now, "h1", outputs(data), addrs, message=message).progressed(now, progress)
    elif phase in ("build_error", "plan_error", "destroy_error"):
        status = status.failed(
            now, Reason.QUOTA_EXCEEDED, message or "Quota exceeded for cores", now + dt.timedelta(minutes=2)
        )
        status = status._to(now, phase=Phase(phase), run_id=run_id)  # the error phase asked for
        _record(clusters, name, run_id, now, "failed", phase)
        log = runs.open_log(clusters, name, run_id)
        log.write(
            "terraform apply\nError: Quota exceeded for cores: Requested 8, but already used 60 of 64\n"
        )
        log.close()
    elif phase == "awaiting_approval":
        plan = PlanInfo(id="plan-1234", spec_hash="h1", add=len(addrs), created_at=now)
        status = status.planned(now, plan)
    elif phase == "invalid":
        status = status.invalid(now, "h1", message or "instances.node.count: must be at least 0")
    elif phase == "destroyed":
        status = status.destroyed(now, Reason.DESTROYED, "h1")
    else:
        raise ValueError(phase)
    write_status(clusters, status)
    return status


def _record(clusters: Path, name: str, run_id: str, now: dt.datetime, result: str, phase: str) -> None:
    finished = None if result == "running" else now
    old = runs.read_record(clusters, name, run_id)
    if old is not None:
        runs.write_record(clusters, old.model_copy(update={"result": result, "finished_at": finished}))
        return
    action = "destroy" if "destroy" in phase else "apply"
    record = runs.RunRecord(
        id=run_id,
        cluster=name,
        action=action,
        reason="new_spec",
        spec_hash="h1",
        started_at=now,
        hub_pid=1,
        result=result,
        finished_at=finished,
        summary="+7 ~0 -0",
    )  # type: ignore[arg-type]
    runs.write_record(clusters, record)


class FakeReconciler:
    """Watches specs/ and plays each new or changed spec through the phases a build goes through,
    `step` seconds apart, writing status.json like the real reconciler (no Terraform, no cloud)."""

    def __init__(self, specs: Path, clusters: Path, step: float = 0.6) -> None:
        self.specs, self.clusters, self.step = specs, clusters, step
        self.stop = threading.Event()
        self.seen: dict[str, str] = {}
        self.thread = threading.Thread(target=self.run, name="fake-reconciler", daemon=True)

    def start(self) -> FakeReconciler:
        self.thread.start()
        return self

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)

    def run(self) -> None:
        while not self.stop.wait(0.2):
            for path in sorted(self.specs.glob("*.yaml")):
                try:
                    spec = load_spec(path)
                except (SpecError, OSError):
                    continue
                digest = spec_digest(spec)
                if self.seen.get(spec.cluster_name) == digest:
                    continue
                self.seen[spec.cluster_name] = digest
                self.play(spec.cluster_name, spec.canonical(), spec.ensure == "absent")

    def play(self, name: str, data: dict[str, Any], destroy: bool) -> None:
        if destroy:
            write_phase(self.clusters, name, "destroy_running", data, done=0)
            time.sleep(self.step)
            status = read_status(self.clusters, name)
            if status and status.run_id:
                _record(self.clusters, name, status.run_id, dt.datetime.now(dt.UTC), "succeeded", "destroy")
            write_phase(self.clusters, name, "destroyed", data)
            return
        write_phase(self.clusters, name, "plan_running", data)
        time.sleep(self.step)
        total = len(addresses(data))
        for done in range(0, total, max(total // 3, 1)):
            write_phase(self.clusters, name, "build_running", data, done=done)
            time.sleep(self.step)
        write_phase(self.clusters, name, "build_success", data)


class FakePreview:
    """A stand-in for the hub's previews (webview.state.Previewer): answers `result` (a copy), or
    raises PreviewFailed(`error`); records each spec it is asked about. With `gate`, each call
    waits for it to be set (to hold previews under way)."""

    def __init__(
        self,
        result: dict[str, Any] | None = None,
        error: str | None = None,
        gate: threading.Event | None = None,
    ) -> None:
        self.result = result or {
            "summary": "3 create; nothing lost",
            "changes": {"create": 3},
            "losing": [],
            "refused": [],
            "nothing_lost": True,
            "seconds": 1.25,
        }
        self.error, self.gate = error, gate
        self.specs: list[ClusterSpec] = []

    def __call__(self, spec: ClusterSpec) -> dict[str, Any]:
        self.specs.append(spec)
        if self.gate is not None:
            self.gate.wait(10)
        if self.error is not None:
            raise PreviewFailed(self.error)
        return dict(self.result)


def two_projects(tmp_path: Path, **changes: Any) -> Settings:
    """A hub of two teams on the sandbox cloud: physics (alice), chemistry (bob); carol is admin."""
    (tmp_path / "specs").mkdir(exist_ok=True)
    (tmp_path / "clusters").mkdir(exist_ok=True)
    values: dict[str, Any] = {
        "specs_dir": tmp_path / "specs",
        "clusters_dir": tmp_path / "clusters",
        "admins": ("carol",),
        "projects": {
            "physics": Project("physics", "sandbox", ("alice",)),
            "chemistry": Project("chemistry", "sandbox", ("bob",)),
        },
    }
    return Settings(**{**values, **changes})
