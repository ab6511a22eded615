"""`python -m sandbox.provider`: the plugin process Terraform starts (through the mirror's launcher)."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from typing import Any


def _exit_with_parent(interval: float = 1.0) -> None:
    """End this process if Terraform dies without saying goodbye (kill -9): no orphan providers."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(interval)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _finish_work_in_flight() -> None:
    """On Ctrl-C Terraform signals the whole process group and sends StopProvider. `tf` takes
    StopProvider as "shut down now", which would lose a server being created (made in the cloud,
    never recorded in the state). Like Go providers, ignore SIGINT, let calls in flight finish
    (they are short), and stop only on go-plugin's Shutdown once Terraform has saved its state."""
    import tf.runner

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    interceptor: Any = tf.runner._ShutdownInterceptor
    original = interceptor.intercept_service

    def intercept(self: Any, continuation: Any, details: Any) -> Any:
        if details.method == "/tfplugin6.Provider/StopProvider":
            return continuation(details)
        return original(self, continuation, details)

    interceptor.intercept_service = intercept


def main(argv: list[str] | None = None) -> None:
    from tf.runner import run_provider

    from sandbox.provider.provider import OpenStackProvider
    from sandbox.provider.servicer import install_servicer

    _exit_with_parent()
    _finish_work_in_flight()
    install_servicer()
    run_provider(OpenStackProvider(), argv or sys.argv)
    # Terraform waits for the plugin process to end after every use; gRPC's interpreter teardown
    # adds ~0.1 s per start, and nothing is left to flush or clean (tf removed its socket dir).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
