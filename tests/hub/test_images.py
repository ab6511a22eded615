"""Images resolved once (issue 12), on the real Terraform and the sandbox cloud: the hub resolves a
spec's image to an id when it plans, records it, renders it, and keeps it while the text is
unchanged, so a newer upload under the same name neither fails nor touches an existing cluster."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from reconciler.cloud.catalog import Catalog
from reconciler.engine.hub import make_hub
from reconciler.model.status import Phase

from .conftest import HubEnv


@pytest.fixture
def imagehub(hubenv: HubEnv) -> Iterator[tuple[HubEnv, Catalog]]:
    catalog = Catalog(hubenv.settings, ttl=0.0)
    hub = make_hub(hubenv.settings, catalog=catalog, terraform=hubenv.hub.terraform, clock=hubenv.clock)
    try:
        yield replace(hubenv, hub=hub), catalog
    finally:
        catalog.stop()


def _ids(env: HubEnv, name: str) -> list[str]:
    return [i.id for i in env.conn.image.images() if i.name == name]


def _booted(env: HubEnv) -> dict[str, str]:
    """Each host's image: the server's own, or its boot volume's (a disk bigger than the flavor's)."""
    from_volume = {
        a["server_id"]: (v.volume_image_metadata or {}).get("image_id")
        for v in env.conn.block_storage.volumes()
        for a in v.attachments or []
        if v.is_bootable
    }
    return {h: (s.image or {}).get("id") or from_volume.get(s.id, "") for h, s in env.servers().items()}


def test_the_image_is_resolved_once_and_a_newer_upload_changes_nothing(
    imagehub: tuple[HubEnv, Catalog],
) -> None:
    env, catalog = imagehub
    (rocky,) = _ids(env, "Rocky-9")
    env.write_spec()
    status = env.reconcile()
    assert status.phase == Phase.BUILD_SUCCESS, status.message
    assert status.images["Rocky-9"].id == rocky
    main_tf = (env.settings.clusters_dir / "hpc" / "main.tf").read_text()
    assert f'image        = "{rocky}"' in main_tf
    built = env.servers()
    assert set(_booted(env).values()) == {rocky}

    # An operator refreshes the image: a newer upload under the same name (the provider's lookup
    # by name would now fail as ambiguous; Magic Castle's most_recent would pick the new one).
    newer = env.conn.image.create_image(
        name="Rocky-9", data=b"\0" * 4096, disk_format="qcow2", container_format="bare"
    )
    assert sorted(_ids(env, "Rocky-9")) == sorted([rocky, newer.id])
    catalog.refresh()
    env.write_spec(instances__node__count=2)
    status = env.reconcile()
    assert status.phase == Phase.BUILD_SUCCESS, status.message
    assert status.images["Rocky-9"].id == rocky  # kept while the spec's text is unchanged
    servers = env.servers()
    assert _booted(env)["node2"] == rocky  # the new node matches its cluster
    assert {h: s.id for h, s in servers.items() if h in built} == {h: s.id for h, s in built.items()}

    # A changed image text is resolved anew: the newest active match, rendered for new hosts;
    # the running ones are not rebuilt (the module ignores a changed image on an instance).
    env.write_spec(image="^Rocky-9$")
    status = env.reconcile()
    assert status.phase == Phase.BUILD_SUCCESS, status.message
    assert set(status.images) == {"^Rocky-9$"} and status.images["^Rocky-9$"].id == newer.id
    assert {h: s.id for h, s in env.servers().items()} == {h: s.id for h, s in servers.items()}
