"""The web view on fixture data, for browser tests of the pages themselves and for a look by hand:
`create_app` under uvicorn with a fake catalog and a stand-in reconciler that walks each new spec
through plan -> build -> success (no Terraform, no cloud).

    .venv/bin/python tests/browser/fakehub.py --port 5050 [--data DIR] [--step 0.6]
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn

sys.path.append(str(Path(__file__).resolve().parent.parent / "web"))  # webfakes

from webfakes import FakeCatalog, FakeReconciler  # noqa: E402

from reconciler.model.settings import Settings  # noqa: E402
from webview.app import create_app  # noqa: E402
from webview.auth import AuthConfig  # noqa: E402
from webview.state import Previewer  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class FakeHub:
    """uvicorn in a thread serving the app over `data/specs` and `data/clusters`."""

    def __init__(
        self,
        data: Path,
        port: int = 0,
        step: float = 0.6,
        auth: AuthConfig | None = None,
        catalog: FakeCatalog | None = None,
        preview: Previewer | None = None,
        **settings: Any,  # more Settings fields (admins, projects, ...)
    ) -> None:
        self.specs, self.clusters = data / "specs", data / "clusters"
        self.specs.mkdir(parents=True, exist_ok=True)
        self.clusters.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.catalog = catalog or FakeCatalog()
        hub_settings = Settings(specs_dir=self.specs, clusters_dir=self.clusters, **settings)
        app = create_app(hub_settings, self.catalog, auth, preview=preview)
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="fake-hub", daemon=True)
        self.reconciler = FakeReconciler(self.specs, self.clusters, step=step)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeHub:
        self.thread.start()
        self.reconciler.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the fake hub did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.reconciler.close()
        self.server.should_exit = True
        self.thread.join(timeout=5)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, default=5050)
    parser.add_argument(
        "--data", type=Path, default=None, help="folder for specs/ and clusters/ (default: a temp dir)"
    )
    parser.add_argument(
        "--step", type=float, default=0.6, help="seconds between the stand-in reconciler's steps"
    )
    args = parser.parse_args()
    data = args.data or Path(tempfile.mkdtemp(prefix="mchub-fakehub-"))
    hub = FakeHub(data, args.port, args.step).start()
    print(f"fake hub at {hub.url} (data in {data}); Ctrl-C stops it", flush=True)
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        hub.stop()


if __name__ == "__main__":
    main()
