"""`python -m sandbox.provider`: the plugin process Terraform starts (through the mirror's launcher)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    from tf.runner import run_provider

    from sandbox.provider.framework import install_servicer
    from sandbox.provider.provider import OpenStackProvider

    install_servicer()
    run_provider(OpenStackProvider(), argv or sys.argv)


if __name__ == "__main__":
    main()
