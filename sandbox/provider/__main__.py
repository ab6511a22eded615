"""`python -m sandbox.provider`: the plugin process Terraform starts (through the mirror's launcher)."""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    from tf.runner import run_provider

    from sandbox.provider.framework import install_servicer
    from sandbox.provider.provider import OpenStackProvider

    install_servicer()
    run_provider(OpenStackProvider(), argv or sys.argv)
    # Terraform waits for the plugin process to end after every use; gRPC's interpreter teardown
    # adds ~0.1 s per start, and nothing is left to flush or clean (tf removed its socket dir).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
