"""safety.classify() as a table (tests/data/plan_cases.yaml): one case per resource type and
attribute rule of the real provider; plus what a whole plan says about itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.engine.safety import RULES, classify, classify_actions, creates_only, needs_values

CASES = yaml.safe_load((Path(__file__).parent.parent / "data" / "plan_cases.yaml").read_text())


def _plan(case: dict[str, Any]) -> dict[str, Any]:
    address = f'module.openstack.{case["type"]}.x["a"]'
    change = {"actions": case["actions"], "before": case.get("before"), "after": case.get("after"),
              "after_unknown": case.get("after_unknown") or {}}  # fmt: skip
    resource = {"address": address, "mode": "managed", "type": case["type"], "change": change}
    return {"resource_changes": [resource]}


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_plan_case(case: dict[str, Any]) -> None:
    got = classify(_plan(case)).changes
    want = case["expect"]
    if want is None:
        assert got == ()
        return
    (change,) = got
    assert (change.kind, change.losing) == (want["kind"], want["losing"]), change
    assert want.get("why", "") in change.why


def test_every_rule_has_a_case() -> None:
    assert set(RULES) <= {c["type"] for c in CASES}


def test_a_plan_describes_itself_by_counts_and_names_what_it_loses() -> None:
    plan = {"resource_changes": [
        {"address": 'module.openstack.openstack_compute_instance_v2.instances["node2"]',
         "type": "openstack_compute_instance_v2",
         "change": {"actions": ["delete", "create"], "before": {"flavor_name": ""},
                    "after": {"flavor_name": "p2-3gb"}}},
        {"address": 'module.openstack.openstack_networking_port_v2.nic["node3"]',
         "type": "openstack_networking_port_v2", "change": {"actions": ["create"], "after": {}}},
        {"address": "data.openstack_images_image_v2.image", "mode": "data",
         "type": "openstack_images_image_v2", "change": {"actions": ["read"]}},
    ]}  # fmt: skip
    classified = classify(plan)
    assert classified.counts() == {"create": 1, "replace": 1}
    assert classified.describe() == (
        '1 create, 1 replace; loses data: openstack_compute_instance_v2.instances["node2"]: replace, '
        "its flavor was deleted by the cloud's operator; the instance and the data on it are erased"
    )
    assert creates_only({"a": "create"}, add=3).describe() == "3 create; nothing lost"


def test_actions_alone_classify_a_plan_unless_data_may_be_rebuilt_or_shrunk() -> None:
    """What a `plan -json` stream gives (address -> action) is enough except for an update of an
    instance or a volume, whose values say whether it rebuilds or shrinks."""
    node = 'module.openstack.openstack_compute_instance_v2.instances["node2"]'
    port = 'module.openstack.openstack_networking_port_v2.nic["node2"]'
    volume = 'module.openstack.openstack_blockstorage_volume_v3.volumes["mgmt1-nfs-home"]'
    assert not needs_values({node: "delete", port: "update", volume: "create"})
    assert needs_values({node: "update"}) and needs_values({volume: "update"})
    got = classify_actions({node: "delete", port: "replace", volume: "no-op"})
    assert [(c.kind, c.losing) for c in got.changes] == [("delete", True), ("replace", False)]
    assert got.describe().startswith("1 replace, 1 delete; loses data: ")
