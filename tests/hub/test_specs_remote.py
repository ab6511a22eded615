"""Specs from a git remote, end to end on the real Terraform and the sandbox cloud: a spec a person
pushes reaches the hub's clone when the webhook pokes it, and the loop's watchdog builds it as it
builds any spec file; no specs/ folder of the hub's own is involved."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from gitremote import Person, bare_remote

from reconciler.gitsync.remote import SpecsRemote
from reconciler.model.status import Phase

from .conftest import SPEC, HubEnv
from .test_loop import phase_of, running_loop, wait_for

pytestmark = [pytest.mark.terraform, pytest.mark.timeout(300)]


def test_a_spec_pushed_by_a_person_is_built_after_the_webhooks_poke(hubenv: HubEnv, tmp_path: Path) -> None:
    remote = bare_remote(tmp_path / "git")
    settings = replace(hubenv.settings, specs_remote=str(remote), specs_pull_interval=3600.0)
    clone = SpecsRemote(settings)
    clone.prepare()  # before the loop watches, as `mchub serve` does
    clone.start()
    try:
        with running_loop(hubenv):
            person = Person(tmp_path / "pat", remote)
            person.write("hpc.yaml", yaml.safe_dump(SPEC))
            person.push("a cluster for the course")
            clone.poke()  # what POST /hooks/git does
            wait_for(lambda: phase_of(hubenv) == Phase.BUILD_SUCCESS, what="build_success")
    finally:
        clone.stop()
    assert sorted(hubenv.servers()) == ["login1", "mgmt1", "node1"]
    assert clone.last is not None and clone.last.changed == ("hpc.yaml",)
