"""The form's Preview, in process with a fake Previewer: the new and edit forms offer it (or say it is
not available here), a preview takes the form's fields as Spawn or Save would and answers with a
fragment in plain words (what would be lost first), refusals and invalid fields name their input,
and nothing is written. The words themselves are checked against the engine's own lines."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from starlette.testclient import TestClient
from webfakes import FakePreview, spec_dict, write_phase
from webhelpers import form_fields, write_spec

from reconciler.engine.safety import Change
from reconciler.model.settings import Settings
from webview import previewtext

INSTANCE = "openstack_compute_instance_v2"
VOLUME = "openstack_blockstorage_volume_v3"
ERASED_INSTANCE = "the instance and the data on it are erased"


def losing(address: str, rtype: str, kind: str, why: str) -> str:
    """A line of the engine's `losing` list, made by the engine's own code."""
    return Change(f"module.openstack.{address}", rtype, kind, True, why).describe()  # type: ignore[arg-type]


NODE2_DELETED = losing(f'{INSTANCE}.instances["node2"]', INSTANCE, "delete", ERASED_INSTANCE)
LOSS = {
    "summary": "2 delete; loses data: ...",
    "changes": {"update": 1, "delete": 2},
    "losing": [NODE2_DELETED],
    "refused": [],
    "nothing_lost": False,
    "seconds": 2.4,
}
REFUSED = {
    "summary": "refused: ...",
    "changes": {},
    "losing": [],
    "refused": ["volumes.nfs.home.size: 4 GB is smaller than the 100 GB volume that exists; keep 100 GB"],
    "nothing_lost": False,
    "seconds": 0.01,
}


def snapshot(settings: Settings) -> dict[str, bytes]:
    return {
        str(p): p.read_bytes()
        for root in (settings.specs_dir, settings.clusters_dir)
        for p in root.rglob("*")
    }


@pytest.fixture
def fake() -> FakePreview:
    return FakePreview()


@pytest.fixture
def web(make_client: Callable[..., TestClient], fake: FakePreview) -> TestClient:
    return make_client(preview=fake)


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html)).strip()


def test_both_forms_offer_a_preview(web: TestClient, settings: Settings) -> None:
    write_spec(settings, "alpha")
    new = web.get("/clusters/new").text
    assert 'id="preview-button" data-url="/clusters/new/preview"' in new
    assert 'id="preview" class="preview" role="status" aria-live="polite"' in new
    edit = web.get("/clusters/alpha/edit").text
    assert 'data-url="/clusters/alpha/edit/preview"' in edit


def test_without_a_preview_function_the_form_says_so(client: TestClient, settings: Settings) -> None:
    page = client.get("/clusters/new").text
    assert "preview-button" not in page
    assert "Previews are not available here" in page
    fields = form_fields(page) | {"public_keys": spec_dict()["public_keys"][0]}
    r = client.post("/clusters/new/preview", data=fields)
    assert r.status_code == 503 and "not available here" in r.text and "data-preview-result" in r.text


def test_an_edit_preview_says_what_would_be_lost_and_writes_nothing(
    make_client: Callable[..., TestClient], settings: Settings
) -> None:
    fake = FakePreview(LOSS)
    web = make_client(preview=fake)
    write_spec(settings, "alpha")
    fields = form_fields(web.get("/clusters/alpha/edit").text)
    before = snapshot(settings)
    fields["inst-2-count"] = "1"
    r = web.post("/clusters/alpha/edit/preview", data=fields)
    assert r.status_code == 200, r.text
    said = text_of(r.text)
    assert 'data-preview-result="loss"' in r.text
    assert "This change loses data: ~1 to update in place, \N{MINUS SIGN}2 to delete (3 resources)." in said
    assert "node2 will be deleted: its disk is erased" in said
    assert "asks for your approval" in said and "Planned by Terraform in 2.4 s" in said
    assert fake.specs[-1].instances["node"].count == 1
    assert snapshot(settings) == before


def test_a_new_form_preview_takes_the_fields_as_spawn_does(web: TestClient, fake: FakePreview) -> None:
    fields = form_fields(web.get("/clusters/new").text)
    fields["cluster_name"], fields["public_keys"] = "fresh", spec_dict()["public_keys"][0]
    r = web.post("/clusters/new/preview", data=fields)
    assert r.status_code == 200, r.text
    assert "Nothing lost: +3 to create (3 resources)." in text_of(r.text)
    asked = fake.specs[-1]
    assert asked.cluster_name == "fresh" and sorted(asked.instances) == ["login", "mgmt", "node"]


def test_a_refusal_names_the_field_and_links_its_input(
    make_client: Callable[..., TestClient], settings: Settings
) -> None:
    web = make_client(preview=FakePreview(REFUSED))
    write_spec(settings, "alpha")
    fields = form_fields(web.get("/clusters/alpha/edit").text)
    fields["vol-0-size"] = "4"
    r = web.post("/clusters/alpha/edit/preview", data=fields)
    assert r.status_code == 200
    assert 'data-preview-result="refused"' in r.text
    assert '<a href="#vol-0-size" data-focus-input="vol-0-size">volumes.nfs.home.size: 4 GB' in r.text
    assert "Planned by Terraform" not in r.text  # no Terraform ran for a refusal


def test_invalid_fields_stale_forms_and_taken_names_come_back_as_fragments(
    web: TestClient, fake: FakePreview, settings: Settings
) -> None:
    write_spec(settings, "alpha")
    fields = form_fields(web.get("/clusters/alpha/edit").text)
    before = snapshot(settings)
    bad = web.post("/clusters/alpha/edit/preview", data={**fields, "inst-2-count": "-1"})
    assert bad.status_code == 422 and 'data-preview-result="invalid"' in bad.text
    assert 'href="#inst-2-count"' in bad.text and "instances.node.count" in bad.text
    write_spec(settings, "alpha", nb_users=42)  # someone saves meanwhile
    stale = web.post("/clusters/alpha/edit/preview", data=fields)
    assert stale.status_code == 409 and "Someone changed this cluster" in stale.text
    new = form_fields(web.get("/clusters/new").text) | {"public_keys": spec_dict()["public_keys"][0]}
    taken = web.post("/clusters/new/preview", data={**new, "cluster_name": "alpha"})
    assert taken.status_code == 409 and 'href="#cluster_name"' in taken.text
    forged = web.post("/clusters/new/preview", data={**new, "csrf_token": "forged"})
    assert forged.status_code == 403 and "data-preview-result" in forged.text
    assert fake.specs == []
    assert {k: v for k, v in snapshot(settings).items() if "alpha" not in k} == {
        k: v for k, v in before.items() if "alpha" not in k
    }


def test_a_destroyed_cluster_previews_only_when_built_again(
    web: TestClient, fake: FakePreview, settings: Settings
) -> None:
    write_spec(settings, "alpha", ensure="absent")
    write_phase(settings.clusters_dir, "alpha", "destroyed")
    fields = form_fields(web.get("/clusters/alpha/edit").text)
    fields.pop("rebuild", None)
    kept = web.post("/clusters/alpha/edit/preview", data=fields)
    assert kept.status_code == 422 and "Saving keeps this cluster destroyed" in kept.text
    assert 'href="#rebuild"' in kept.text and fake.specs == []
    again = web.post("/clusters/alpha/edit/preview", data={**fields, "rebuild": "yes"})
    assert again.status_code == 200 and fake.specs[-1].ensure == "present"


# -- the words -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "words"),
    [
        (NODE2_DELETED, "node2 will be deleted: its disk is erased"),
        (
            losing(f'{INSTANCE}.instances["login1"]', INSTANCE, "rebuild",
                   "image_name changed: the instance is rebuilt and its disk erased"),
            "login1 will be rebuilt (image_name changed): its disk is erased",
        ),
        (
            losing(f'{INSTANCE}.instances["node1"]', INSTANCE, "replace",
                   f"its flavor was resized; {ERASED_INSTANCE}"),
            "node1 will be replaced (its flavor was resized): its disk is erased",
        ),
        (
            losing(f'{VOLUME}.volumes["mgmt1-nfs-home"]', VOLUME, "delete",
                   "the volume and the data on it are erased"),
            "volume mgmt1-nfs-home will be deleted: its data is erased",
        ),
        (
            losing(f'{VOLUME}.volumes["mgmt1-nfs-home"]', VOLUME, "update",
                   "shrinks from 100 to 50 GB, which OpenStack refuses (a volume cannot shrink)"),
            "volume mgmt1-nfs-home: shrinks from 100 to 50 GB, which OpenStack refuses "
            "(a volume cannot shrink)",
        ),
        ("something the engine may say one day", "something the engine may say one day"),
    ],
)  # fmt: skip
def test_what_would_be_lost_in_plain_words(line: str, words: str) -> None:
    assert previewtext.lost_text(line) == words


def test_counts_and_tones() -> None:
    assert (
        previewtext.counts_text({"create": 2, "update": 1})
        == "+2 to create, ~1 to update in place (3 resources)"
    )
    assert previewtext.counts_text({"delete": 1}) == "\N{MINUS SIGN}1 to delete (1 resource)"
    assert previewtext.said({"changes": {}, "losing": [], "refused": []}).tone == "same"
    ok = previewtext.said({"changes": {"create": 2, "update": 1}, "losing": [], "seconds": 3})
    assert (ok.tone, ok.title, ok.detail, ok.footer) == (
        "ok", "Nothing lost", "+2 to create, ~1 to update in place (3 resources).",
        "Planned by Terraform in 3.0 s; nothing was written.",
    )  # fmt: skip
    assert previewtext.said(LOSS).tone == "loss" and previewtext.said(REFUSED).tone == "refused"
