"""Fixtures for the in-process web view tests: a hub's folders in tmp, a fake catalog, and a
Starlette TestClient that talks to the app as a browser on 127.0.0.1 would. Helpers live in
webhelpers.py, test doubles in webfakes.py."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from webfakes import FakeCatalog
from webhelpers import BASE_URL, TestClient

from reconciler.model.settings import Settings
from webview.app import create_app
from webview.auth import AuthConfig
from webview.state import Previewer


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    (tmp_path / "specs").mkdir()
    (tmp_path / "clusters").mkdir()
    return Settings(specs_dir=tmp_path / "specs", clusters_dir=tmp_path / "clusters")


@pytest.fixture
def catalog() -> FakeCatalog:
    return FakeCatalog()


@pytest.fixture
def make_client(settings: Settings, catalog: FakeCatalog) -> Iterator[Callable[..., TestClient]]:
    clients: list[TestClient] = []

    def make(
        auth: AuthConfig | None = None,
        base_url: str = BASE_URL,
        clock: Callable[[], dt.datetime] | None = None,
        preview: Previewer | None = None,
        **kw: Any,
    ) -> TestClient:
        app = create_app(settings, catalog, auth, clock=clock, preview=preview)
        client = TestClient(app, base_url=base_url, follow_redirects=False, **kw)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()
