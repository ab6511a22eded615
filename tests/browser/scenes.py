"""Every page state at once, for the screen-size and accessibility tests: one cluster per phase on a
fake hub (fakehub.py), written as the reconciler writes them and left alone by its stand-in, with
the long texts people meet (a 41-character name, a Terraform error with URLs and JSON, a plan that
replaces many volumes, a 40-node cluster) so that a layout that only holds for short ones fails."""

from __future__ import annotations

import datetime as dt
import subprocess
from dataclasses import dataclass
from typing import Any

import yaml
from fakehub import FakeHub
from webfakes import spec_dict, write_phase

from reconciler.model import runs
from reconciler.model.spec import parse_spec, spec_digest
from reconciler.model.status import PlanInfo, read_status, write_status

LONG_NAME = "research-computing-summer-school-2026-ab1"  # 41 characters, the most a name may have
LONG_ERROR = (
    "Error: Error creating OpenStack server: Expected HTTP response code [200 202] when accessing "
    "[POST http://nova.sandbox.localdomain:8774/v2.1/servers], but got 403 instead: "
    '{"forbidden":{"code":403,"message":"Quota exceeded for cores: Requested 8, but already used 60 of '
    '64 cores"}} with module.openstack.openstack_compute_instance_v2.instances["node12"], on '
    "/var/lib/mchub/clusters/s-build-error/.terraform/modules/openstack/openstack/infrastructure.tf "
    'line 45, in resource "openstack_compute_instance_v2" "instances"'
)

LONG_USER = "a.long.user.name.from.the.identity.provider@physics.university.example"
# scene -> (cluster, phase); the cluster page of each is a scene of its own
PHASES = {
    "pending": ("s-pending", "pending"),
    "planning": ("s-planning", "plan_running"),
    "building": ("s-building", "build_running"),
    "destroying": ("s-destroying", "destroy_running"),
    "built": (LONG_NAME, "build_success"),
    "build-error": ("s-build-error", "build_error"),
    "plan-error": ("s-plan-error", "plan_error"),
    "destroy-error": ("s-destroy-error", "destroy_error"),
    "approval": ("s-approval", "awaiting_approval"),
    "invalid": ("s-invalid", "invalid"),
    "destroyed": ("s-destroyed", "destroyed"),
    "big": ("s-big", "build_success"),
}


@dataclass(frozen=True)
class Scenes:
    hub: FakeHub
    paths: dict[str, str]  # scene -> path on the hub
    login_url: str  # a second hub that asks for a token

    def url(self, scene: str) -> str:
        return self.hub.url + self.paths[scene]


def _spec(name: str, phase: str) -> dict[str, Any]:
    data = spec_dict(name)
    if name == "s-big":
        data["instances"]["node"]["count"] = 40
    if phase in ("destroyed", "destroy_running", "destroy_error"):
        data["ensure"] = "absent"
    return data


def _write_spec(hub: FakeHub, name: str, data: dict[str, Any], valid: bool = True) -> None:
    if valid:  # the stand-in reconciler has "seen" it, so it leaves the phase written here alone
        hub.reconciler.seen[name] = spec_digest(parse_spec(data))
    (hub.specs / f"{name}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))


def _history(hub: FakeHub, name: str, now: dt.datetime) -> None:
    """Runs as they pile up on a cluster edited a few times, with long summaries and messages."""
    for n in range(6):
        started = now - dt.timedelta(hours=6 - n)
        record = runs.RunRecord(
            id=runs.new_run_id(started, "apply"),
            cluster=name,
            action="apply",
            reason="spec_changed" if n else "new_spec",
            spec_hash=f"h{n}",
            started_at=started,
            finished_at=started + dt.timedelta(minutes=4),
            hub_pid=1,
            result="failed" if n == 2 else "succeeded",
            error_kind="quota" if n == 2 else None,
            message=LONG_ERROR if n == 2 else "",
            approved_by=LONG_USER if n == 5 else None,
            triggered_by=LONG_USER if n >= 4 else None,
            summary=""
            if n == 2
            else f"+{n + 3} ~1 -0; replaces module.openstack.openstack_blockstorage_volume_v3"
            f'.volumes["mgmt1-nfs-home"]',
        )
        runs.write_record(hub.clusters, record)


def _commits(hub: FakeHub, name: str) -> None:
    """The spec's git history (the page's "Spec history"): long names and subjects. Only comments
    change, so the stand-in reconciler sees the same spec throughout."""
    path = hub.specs / f"{name}.yaml"
    text = path.read_text()
    people = [("Maximiliana Evangelina Featherstonehaugh-Worthington", "Create " + path.name),
              ("Bob", "Note why the scratch volumes are this large, for whoever reads this file next year"),
              ("Bob", "wip")]  # fmt: skip
    git = ["git", "-C", str(hub.specs), "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-q"], check=True)
    for i, (who, subject) in enumerate(people):
        path.write_text(text if i == len(people) - 1 else f"# draft {i}\n{text}")
        subprocess.run([*git, "add", path.name], check=True)
        mail = ["-c", f"user.name={who}", "-c", f"user.email={LONG_USER}"]
        subprocess.run([*git, *mail, "commit", "-q", "-m", subject], check=True)


def _approval(hub: FakeHub, name: str, now: dt.datetime) -> None:
    status = read_status(hub.clusters, name)
    assert status is not None
    hosts = [f"node{i}" for i in range(1, 13)]
    plan = PlanInfo(
        id="plan-20261127T120000Z-apply-4f2a9c",
        spec_hash="h1",
        add=14,
        change=2,
        destroy=12,
        replace=[f'module.openstack.openstack_compute_instance_v2.instances["{h}"]' for h in hosts],
        destroyed=[
            f'module.openstack.openstack_blockstorage_volume_v3.volumes["{h}-nfs-scratch"]' for h in hosts
        ],
        created_at=now,
        changes={"create": 2, "rebuild": 12},
        losing=[f"{h}: its disk is rebuilt (data on it is lost)" for h in hosts],
    )
    write_status(hub.clusters, status.planned(now, plan))


def stage(hub: FakeHub, login_hub: FakeHub) -> Scenes:
    """Writes every scene to the hub's specs/ and clusters/; returns the path of each page."""
    now = dt.datetime.now(dt.UTC)
    paths = {"dashboard": "/", "form-new": "/clusters/new", "not-found": "/clusters/no-such-cluster"}
    for scene, (name, phase) in PHASES.items():
        data = _spec(name, phase)
        if phase == "invalid":
            data["instances"]["node"]["count"] = -1
            data["nb_users"] = "many"
        _write_spec(hub, name, data, valid=phase != "invalid")
        message = LONG_ERROR if phase.endswith("_error") else ""
        if phase == "invalid":
            message = "instances.node.count: must be at least 0; nb_users: must be a whole number"
        if phase == "destroy_error":
            write_phase(hub.clusters, name, "build_success", data, when=now)
        write_phase(hub.clusters, name, phase, data, message=message, when=now)
        if phase == "awaiting_approval":
            _approval(hub, name, now)
        paths[scene] = f"/clusters/{name}"
    _history(hub, LONG_NAME, now)
    _commits(hub, LONG_NAME)
    paths["form-edit"] = f"/clusters/{LONG_NAME}/edit"
    return Scenes(hub, paths, login_hub.url)


# Scenes that need more than a visit: the success dialog open, the form sent back with errors.
EXTRA = ("built-dialog", "form-errors", "login")
ALL = (*PHASES, "dashboard", "form-new", "form-edit", "not-found", *EXTRA)


def open_scene(page: Any, scenes: Scenes, scene: str) -> None:
    """Shows `scene` in `page`, waiting until it is drawn (and its dialog open)."""
    if scene == "login":
        page.goto(scenes.login_url + "/login")
    elif scene == "built-dialog":  # as after Spawn: the build finished after the page was opened
        page.goto(scenes.url("built") + "?since=1")
        page.locator("#success-dialog[open]").wait_for()
    elif scene == "form-errors":
        page.goto(scenes.url("form-new"))
        page.locator("#cluster_name").fill("Bad Name!")
        page.locator("#public_keys").fill("ssh-rsa not-a-key")
        # form.submit(): the server's answer, whatever checks the page makes before sending
        with page.expect_navigation():
            page.evaluate(
                "() => HTMLFormElement.prototype.submit.call(document.getElementById('submit').form)"
            )
        page.locator(".field-error").first.wait_for()
    else:
        response = page.goto(scenes.url(scene))
        assert response is not None
        expected = 404 if scene == "not-found" else 200
        assert response.status == expected, f"{scene}: HTTP {response.status}"
    page.wait_for_load_state("load")


# The page's width, and for a page wider than the window the elements that stick out of it (not
# those inside a box that scrolls or clips them): what to fix.
MEASURE = """() => {
  const width = innerWidth;
  const clipped = (el) => {
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      if (getComputedStyle(p).overflowX !== "visible") return true;
    }
    return false;
  };
  const name = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
    + (el.classList.length ? "." + Array.from(el.classList).join(".") : "");
  const out = [];
  if (document.documentElement.scrollWidth > width) {
    for (const el of document.body.querySelectorAll("*")) {
      const r = el.getBoundingClientRect();
      if (r.width && r.right > width + 1 && !clipped(el)) out.push(name(el) + " to " + Math.round(r.right));
    }
  }
  return { scroll: document.documentElement.scrollWidth, width, out: out.slice(0, 6) };
}"""


def overflow(page: Any) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate(MEASURE)
    return result
