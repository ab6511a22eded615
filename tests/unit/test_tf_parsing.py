"""Reading Terraform's output without running it: recorded `apply -json` streams and `show -json`
plans of Terraform 1.0.3 and 1.11.4 (tests/unit/data/terraform/README.md), recorded stderr, and a
table of error diagnostics -> FailureKind."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.terraform import output as tfjson
from reconciler.terraform.errors import (
    FailureKind,
    classify,
    classify_one,
    message_of,
    parse_lock_info,
    parse_text_diagnostics,
    trim,
)

DATA = Path(__file__).parent / "data" / "terraform"
VERSIONS = ["1.0.3", "1.11.4"]


def events(version: str, name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (DATA / version / f"{name}.jsonl").read_text().splitlines()]


def replay(version: str, name: str) -> tuple[list[tuple[str, str, str]], tfjson.Progress]:
    calls: list[tuple[str, str, str]] = []
    progress = tfjson.Progress(lambda *call: calls.append(call))
    for event in events(version, name):
        progress.feed(event)
    return calls, progress


# -- apply -json progress --------------------------------------------------------------------------
@pytest.mark.parametrize("version", VERSIONS)
def test_create_progress_ends_done_or_failed(version: str) -> None:
    calls, progress = replay(version, "apply_create")
    kind = "fake_thing" if version == "1.0.3" else "terraform_data"
    assert progress.states == {
        f"{kind}.node[0]": "done",
        f"{kind}.node[1]": "done",
        f"module.m.{kind}.vol": "done",
        f"{kind}.slow": "done",
        f"{kind}.broken": "failed",
    }
    slow = [(state, action) for addr, state, action in calls if addr == f"{kind}.slow"]
    # queued from the planned_change events, then running and done; apply_progress adds no call
    assert slow == [("queued", "create"), ("running", "create"), ("done", "create")]
    assert all(action == "create" for _, _, action in calls)


@pytest.mark.parametrize("version", VERSIONS)
def test_replacement_is_done_once_after_both_halves(version: str) -> None:
    calls, progress = replay(version, "apply_replace")
    kind = "fake_thing" if version == "1.0.3" else "terraform_data"
    vol = [(state, action) for addr, state, action in calls if addr == f"module.m.{kind}.vol"]
    assert vol == [("queued", "replace"), ("running", "replace"), ("done", "replace")]
    assert set(progress.states.values()) == {"done"}


@pytest.mark.parametrize("version", VERSIONS)
def test_destroy_progress(version: str) -> None:
    calls, progress = replay(version, "apply_destroy")
    assert len(progress.states) == 5 and set(progress.states.values()) == {"done"}
    assert {action for _, _, action in calls} == {"delete"}


@pytest.mark.parametrize("version", VERSIONS)
def test_human_lines_read_like_terraform(version: str) -> None:
    lines = [line for e in events(version, "apply_create") for line in tfjson.human_lines(e)]
    assert lines[0] == f"Terraform {version}"
    assert any(line.endswith("Still creating... [10s elapsed]") for line in lines)
    error = lines.index(next(line for line in lines if line.startswith("Error: ")))
    block = "\n".join(lines[error:])
    assert "  on main.tf line" in block and "with " in block  # location and address, as Terraform prints


def test_sensitive_outputs_masked_in_json_events() -> None:
    # Terraform 1.0.3 puts sensitive output values in the `outputs` event of `apply -json`.
    event = next(e for e in events("1.0.3", "apply_replace") if e["type"] == "outputs")
    assert event["outputs"]["pw"]["value"] == "s3cret-output"
    masked = tfjson.mask_sensitive(event)
    assert masked["outputs"]["pw"]["value"] == "(sensitive value)"
    assert masked["outputs"]["ip"] == event["outputs"]["ip"]
    assert "s3cret" not in json.dumps(masked)


# -- show -json -> PlanSummary ---------------------------------------------------------------------
@pytest.mark.parametrize("version", VERSIONS)
def test_plan_summary_create(version: str) -> None:
    plan = json.loads((DATA / version / "show_create.json").read_text())
    summary = tfjson.plan_summary(plan, 2)
    assert (summary.add, summary.change, summary.destroy) == (5, 0, 0)
    assert set(summary.addresses.values()) == {"create"} and summary.has_changes and summary.output_changes
    assert summary.pending == summary.addresses


def test_plan_summary_replace_and_update() -> None:
    plan = json.loads((DATA / "1.0.3" / "show_replace.json").read_text())
    summary = tfjson.plan_summary(plan, 2)
    # What Terraform printed: "Plan: 2 to add, 1 to change, 1 to destroy."
    assert (summary.add, summary.change, summary.destroy) == (2, 1, 1)
    assert summary.replace == ["module.m.fake_thing.vol"] and summary.destroyed == []
    assert summary.addresses["fake_thing.slow"] == "update"
    assert summary.addresses["fake_thing.node[0]"] == "no-op"
    assert set(summary.pending) == {"fake_thing.slow", "fake_thing.broken", "module.m.fake_thing.vol"}
    assert not summary.output_changes


@pytest.mark.parametrize("version", VERSIONS)
def test_plan_summary_destroy(version: str) -> None:
    plan = json.loads((DATA / version / "show_destroy.json").read_text())
    summary = tfjson.plan_summary(plan, 2)
    assert (summary.add, summary.change, summary.destroy) == (0, 0, 5)
    assert sorted(summary.destroyed) == sorted(summary.addresses) and summary.replace == []


def test_plan_summary_without_exit_code_infers_changes() -> None:
    plan = json.loads((DATA / "1.11.4" / "show_replace.json").read_text())
    assert tfjson.plan_summary(plan).has_changes
    unchanged = {"resource_changes": [{"address": "a.b", "change": {"actions": ["no-op"]}}]}
    assert not tfjson.plan_summary(unchanged).has_changes
    assert tfjson.plan_summary(unchanged, 2).has_changes  # Terraform's verdict wins when known


def test_action_names() -> None:
    assert tfjson.action_of(["delete", "create"]) == tfjson.action_of(["create", "delete"]) == "replace"
    assert tfjson.action_of(["read"]) == "read" and tfjson.action_of([]) == "no-op"


# -- errors --------------------------------------------------------------------------------------
CASES = yaml.safe_load((DATA / "failures.yaml").read_text())


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_failure_kinds(case: dict[str, str]) -> None:
    assert classify_one(case) == FailureKind(case["kind"])


STDERR = {
    "init_unsupported_argument": (FailureKind.CONFIG, "Unsupported argument (main.tf:3): An argument"),
    "init_provider_not_in_mirror": (FailureKind.CONFIG, "Failed to query available provider packages"),
    "init_registry_unreachable": (FailureKind.CONFIG, "Failed to query available provider packages"),
    "plan_without_init": (FailureKind.CONFIG, ""),
    "plan_locked": (FailureKind.LOCKED, "Error acquiring the state lock: held by root@vm since 2026-11-27"),
    "plan_locked_no_info": (FailureKind.LOCKED, "Error acquiring the state lock: "),
    "apply_conflict": (
        FailureKind.CONFLICT,
        "Error creating openstack_compute_keypair_v2 (module.openstack.openstack_compute_keypair_v2.keypair)"
        ": Key pair 'hpc1-key' already exists. The cloud already has this resource",
    ),
}


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", sorted(STDERR))
def test_recorded_stderr(version: str, name: str) -> None:
    text = (DATA / version / f"{name}.stderr").read_text()
    kind, first = classify(parse_text_diagnostics(text), text)
    expected_kind, prefix = STDERR[name]
    message = message_of(first, text)
    assert kind is expected_kind and message.startswith(prefix) and len(message) <= 500
    assert "Terraform acquires a state lock" not in message and "\n" not in message
    if kind is FailureKind.LOCKED:
        assert "resource temporarily unavailable" in message or "held by" in message


@pytest.mark.parametrize("version", VERSIONS)
def test_lock_info_block(version: str) -> None:
    text = (DATA / version / "plan_locked.stderr").read_text()
    info = parse_lock_info(text)
    assert info is not None
    assert set(info) == {"ID", "Path", "Operation", "Who", "Version", "Created", "Info"}
    assert info["Version"] == version and info["Path"] == "terraform.tfstate" and len(info["ID"]) == 36


def test_text_diagnostics_shape() -> None:
    text = (DATA / "1.11.4" / "init_unsupported_argument.stderr").read_text()
    diags = parse_text_diagnostics(text)
    # 1.11 adds a generic first error (with a two-line summary) and repeats the real one.
    assert diags[0]["summary"].startswith("Terraform encountered problems during initialisation, including")
    assert diags[0]["summary"].endswith("with the configuration, described below.")
    assert diags[1] == {
        "severity": "error",
        "summary": "Unsupported argument",
        "range": {"filename": "main.tf", "start": {"line": 3}},
        "detail": 'An argument named "bogus" is not expected here.',
    }


def test_text_diagnostics_with_boxes_and_colours() -> None:
    text = "\x1b[31m╷\x1b[0m\n\x1b[31m│\x1b[0m \x1b[1mError: \x1b[0mBoom\n│\n│ It broke.\n╵\n"
    text += "\nWarning: Careful\n\nDetail\n"
    assert parse_text_diagnostics(text) == [
        {"severity": "error", "summary": "Boom", "detail": "It broke."},
        {"severity": "warning", "summary": "Careful", "detail": "Detail"},
    ]


def test_message_trimmed_and_ansi_free() -> None:
    assert trim("\x1b[31mred\x1b[0m  text\n more") == "red text more"
    long = trim("x" * 2000)
    assert len(long) == 500 and long.endswith("…")
    assert message_of(None, "") == "terraform failed without an error message"


def test_message_names_address_and_location() -> None:
    diag = {
        "severity": "error",
        "summary": "Error creating thing",
        "detail": "Quota exceeded for cores",
        "address": "fake_thing.broken",
        "range": {"filename": "main.tf", "start": {"line": 22}},
    }
    expected = "Error creating thing (main.tf:22, fake_thing.broken): Quota exceeded for cores"
    assert message_of(diag) == expected


def test_specific_diagnostic_wins_over_generic_ones() -> None:
    diags = [
        {"severity": "error", "summary": "execution halted", "detail": ""},
        {"severity": "warning", "summary": "Quota exceeded", "detail": "not an error"},
        {"severity": "error", "summary": "Error creating server", "detail": "connection refused"},
        {"severity": "error", "summary": "Error creating volume", "detail": "Quota exceeded for volumes"},
    ]
    kind, first = classify(diags)
    assert kind is FailureKind.QUOTA and first is diags[3]
    assert classify([]) == (FailureKind.TRANSIENT, None)


# -- "already exists": a conflict a person resolves ----------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_already_exists_is_a_conflict_naming_the_resource_and_the_import(version: str) -> None:
    """Recorded on the sandbox: a key pair left in the cloud by a run that stopped before Terraform
    saved its state. The diagnostic of `apply -json` carries the address."""
    diags = [e["diagnostic"] for e in events(version, "apply_conflict")]
    kind, first = classify(diags)
    assert kind is FailureKind.CONFLICT and kind.permanent
    message = message_of(first, folder="clusters/hpc1/")
    assert message.startswith(
        "Error creating openstack_compute_keypair_v2 (module.openstack.openstack_compute_keypair_v2.keypair)"
        ": Key pair 'hpc1-key' already exists."
    )
    assert (
        "`terraform import module.openstack.openstack_compute_keypair_v2.keypair hpc1-key` in clusters/hpc1/"
        in message
    )
    assert "delete it in the cloud" in message and len(message) <= 500


def test_a_conflicts_advice_survives_a_long_cloud_answer() -> None:
    diag = {
        "summary": "Error creating openstack_compute_instance_v2",
        "detail": "got 409 instead " + "x" * 3000 + ' {"message": "Server name already exists"}',
        "address": 'module.openstack.openstack_compute_instance_v2.instances["node1"]',
    }
    message = message_of(diag, folder="clusters/hpc/")
    assert message.startswith("Error creating openstack_compute_instance_v2 (module.openstack.")
    assert "Server name already exists." in message
    address = 'module.openstack.openstack_compute_instance_v2.instances["node1"]'
    assert f"terraform import '{address}' ID" in message
    assert message.endswith("Retry now on its page).") and len(message) <= 500


def test_only_config_and_conflict_wait_for_a_person() -> None:
    assert {k for k in FailureKind if k.permanent} == {FailureKind.CONFIG, FailureKind.CONFLICT}


def test_a_conflict_wins_over_a_retried_kind() -> None:
    quota = {"severity": "error", "summary": "Error creating server", "detail": "Quota exceeded for cores"}
    conflict = {"severity": "error", "summary": "Error creating key", "detail": "Key pair 'a' already exists"}
    assert classify([quota, conflict]) == (FailureKind.CONFLICT, conflict)


# -- a cloud's 4xx that no retry fixes -----------------------------------------------------------


def test_a_refused_key_pair_waits_for_the_spec_with_novas_own_words() -> None:
    """Nova's 400 for a damaged key, as the real provider prints it: permanent, and the message is
    Nova's sentence and what to do, not the URL and JSON around it."""
    diag = {
        "severity": "error",
        "summary": "Error creating OpenStack keypair: Bad request with: [POST https://nova.example.org:8774/"
        'v2.1/os-keypairs], error message: {"badRequest": {"code": 400, "message": "Keypair data is '
        'invalid: failed to generate fingerprint"}}',
        "address": "module.openstack.openstack_compute_keypair_v2.keypair",
    }
    kind, best = classify([diag])
    assert kind is FailureKind.CONFIG and kind.permanent
    message = message_of(best)
    assert message.startswith(
        "Error creating OpenStack keypair (module.openstack.openstack_compute_keypair_v2.keypair): "
        "Keypair data is invalid: failed to generate fingerprint (HTTP 400). "
    )
    assert "retrying it cannot help" in message and "https://" not in message


def test_a_409_that_is_not_already_exists_gets_no_import_advice() -> None:
    diag = {
        "severity": "error",
        "summary": "Error creating openstack_networking_floatingip_associate_v2",
        "detail": 'but got 409 instead: {"NeutronError": {"message": "Cannot associate floating IP '
        '203.0.113.7 with port p2, as that fixed IP already has a floating IP on external network e1."}}',
    }
    assert classify([diag])[0] is FailureKind.CONFLICT
    message = message_of(diag)
    assert "as that fixed IP already has a floating IP on external network e1 (HTTP 409)" in message
    assert "terraform import" not in message and "resolve that in the cloud" in message
