"""The world the hostile-input properties run in: one hub's folders (specs/ a git work tree), the
real web app (`create_app`, token mode, fakes of our own boundaries only: catalog and preview), and
the real engine on a Terraform that is not there. Three clusters: `target`, the one requests and
files are aimed at; `bystander`, built, with a stored password and a password written by hand in
its spec; `ghost`, an orphan (status, no spec). Outside specs/: a fake `/proc/self/environ`, and the
sandbox cloud's clouds.yaml (with a password) and CLI config, so the engine gets as far as init.

`World.call` sends one request and checks it: no 5xx, under 2 s, no secret in its body or headers.
`World.case()` wraps one example: afterwards the other clusters' files and the files outside are
unchanged, no secret is in the log output or was copied into a file under `clusters/`, no spec file
holds a password a request gave; the next example starts from the same files again."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import yaml
from hostilefigures import measured, timed
from hostilegen import given_in
from webfakes import KEY, FakeCatalog, FakePreview, spec_dict, write_phase
from webhelpers import BASE_URL, CSRF_RE, TestClient, form_fields

from reconciler.engine.hub import make_hub
from reconciler.engine.reconcile import Outcome, reconcile
from reconciler.model.settings import Settings
from reconciler.terraform import Launcher
from webview.app import create_app
from webview.auth import AuthConfig

LIMIT_SECONDS = 2.0
PROTECTED = ("bystander", "ghost")


def _marker(what: str) -> str:
    return f"{what}{secrets.token_hex(8)}"


def _real_environ_marker() -> bytes:
    """One entry of this process's real environment (what a link to /proc/self/environ shows)."""
    try:
        entries = Path("/proc/self/environ").read_bytes().split(b"\0")
    except OSError:
        return b"no-proc-environ-here"
    longest = max(entries, key=len, default=b"")
    return longest if len(longest) >= 12 else b"no-long-environ-entry"


class Collected(logging.Handler):
    """Every log record of the hub while the world exists, as the text a handler would write."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


class World:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.settings = Settings(
            specs_dir=root / "specs", clusters_dir=root / "clusters", sandbox_data=root / "sandbox"
        )
        self.specs, self.clusters, self.outside = root / "specs", root / "clusters", root / "outside"
        self.token, self.key = _marker("Tok"), _marker("Key")
        self.marks = {  # what must never be in a response, a log line, or another cluster's file
            "token": self.token, "key": self.key, "bystander password": _marker("BystPw"),
            "bystander hand-written password": _marker("BystHandPw"), "ghost password": _marker("GhostPw"),
            "environ": _marker("EnvPw"), "clouds.yaml password": _marker("CloudPw"),
        }  # fmt: skip
        self.target_password = _marker("TargetHandPw")  # target's own: shown only by /password
        self.real_environ = _real_environ_marker()
        self.log = Collected()
        self.preview = FakePreview()
        self._build()
        self.client = self._client()

    # -- the hub's folders ----------------------------------------------------------------------

    def _build(self) -> None:
        for folder in (self.specs, self.clusters, self.outside, self.root / "sandbox" / "terraform"):
            folder.mkdir(parents=True)
        # The sandbox cloud's files, so that the engine gets as far as `terraform init`.
        (self.root / "sandbox" / "terraform" / "terraformrc").write_text("# no provider mirror here\n")
        clouds = {"clouds": {"sandbox": {"auth": {"password": self.marks["clouds.yaml password"]}}}}
        (self.root / "sandbox" / "clouds.yaml").write_text(yaml.safe_dump(clouds))
        environ = f"MCHUB_TOKEN={self.token}\nOS_PASSWORD={self.marks['environ']}\n"
        (self.outside / "environ").write_text("cluster_name: target\n# " + environ)
        bystander = spec_dict("bystander", guest_passwd=self.marks["bystander hand-written password"])
        (self.specs / "bystander.yaml").write_text(yaml.safe_dump(bystander, sort_keys=False))
        for phase in ("plan_running", "build_running", "build_success"):
            write_phase(self.clusters, "bystander", phase, bystander)
            write_phase(self.clusters, "ghost", phase)
        for name in PROTECTED:
            password = self.marks[f"{name} password"]
            (self.clusters / name / "secrets.json").write_text(f'{{"guest_passwd": "{password}"}}')
            os.chmod(self.clusters / name / "secrets.json", 0o600)
        self.target_spec = yaml.safe_dump(spec_dict("target"), sort_keys=False).encode()
        self.reset()
        git = ["git", "-C", str(self.specs), "-c", "user.name=t", "-c", "user.email=t@x"]
        subprocess.run([*git, "init", "-q"], check=True)
        subprocess.run([*git, "add", "."], check=True)
        subprocess.run([*git, "commit", "-qm", "start"], check=True)
        self.protected = self.snapshot()

    def reset(self, phase: str | None = "build_success") -> None:
        """Every file but the other clusters' back as it was: target's spec, its status at `phase`
        (None: no status), no other spec, approval or retry request."""
        for folder, keep in ((self.specs, {".git", "bystander.yaml"}), (self.clusters, set(PROTECTED))):
            with os.scandir(folder) as entries:
                doomed = [Path(e.path) for e in entries if e.name not in keep]
            for path in doomed:
                remove(path)
        (self.specs / "target.yaml").write_bytes(self.target_spec)
        if phase is not None:
            write_phase(self.clusters, "target", phase)

    def snapshot(self) -> dict[str, Any]:
        """The other clusters' files (specs, approvals, retries, clusters/), the outside file and
        the sandbox cloud's."""
        out: dict[str, Any] = {}
        tops = [self.outside, self.root / "sandbox", *(self.clusters / name for name in PROTECTED)]
        for top in tops:
            for folder, dirs, files in os.walk(top, followlinks=False):
                for name in dirs + files:
                    path = Path(folder, name)
                    out[str(path.relative_to(self.root))] = describe(path)
        for folder in (self.specs, self.specs / ".approvals", self.specs / ".retries"):
            with contextlib.suppress(FileNotFoundError, NotADirectoryError), os.scandir(folder) as entries:
                for entry in entries:
                    if entry.name.split(".")[0] in PROTECTED:
                        out[str(Path(entry.path).relative_to(self.root))] = describe(Path(entry.path))
        return out

    # -- the web app ----------------------------------------------------------------------------

    def _client(self) -> TestClient:
        """The app, logged in with the token (a session cookie, for the forms); the API is called
        with the token as a bearer."""
        auth = AuthConfig(token=self.token, secret_key=self.key)
        app = create_app(self.settings, FakeCatalog(), auth, preview=self.preview)
        client = TestClient(app, base_url=BASE_URL, follow_redirects=False)
        client.__enter__()
        done = client.post("/login", data={"csrf_token": csrf_of(client, "/login"), "token": self.token})
        assert done.status_code == 303, done.text
        new = form_fields(client.get("/clusters/new").text)
        new["public_keys"] = KEY  # token mode offers no key of the hub's user: a person pastes one
        self.form_fields = list(new.items())
        self.edit_fields = list(form_fields(client.get("/clusters/target/edit").text).items())
        self.csrf = csrf_of(client, "/clusters/new")
        return client

    def close(self) -> None:
        self.client.__exit__(None, None, None)

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def call(
        self, method: str, url: str, allow: tuple[str, ...] = (), via: TestClient | None = None, **kw: Any
    ) -> httpx.Response:
        """One request (through `via`, another client of the world's folders, if given), checked:
        answered under 2 s, never 5xx, no secret in body or headers."""
        started = time.perf_counter()
        with measured(f"{method} {url}"):
            response = (via or self.client).request(method, url, **kw)
        took = time.perf_counter() - started
        timed(f"{method} {url}", took)
        assert response.status_code < 500, f"{method} {url}: {response.status_code} {response.text[:500]}"
        assert took < LIMIT_SECONDS, f"{method} {url} took {took:.2f} s"
        head = "\n".join(f"{k}: {v}" for k, v in response.headers.multi_items()).encode("utf-8", "replace")
        self.assert_clean(response.content + b"\n" + head, f"{method} {url}", allow)
        return response

    def leaks(self, blob: bytes, allow: tuple[str, ...] = ()) -> list[str]:
        """The secrets `blob` holds, but those `allow` names ("target password", "given password")."""
        found = [what for what, mark in self.marks.items() if mark.encode() in blob and what not in allow]
        if self.target_password.encode() in blob and "target password" not in allow:
            found.append("target's hand-written password")
        if self.real_environ in blob:
            found.append("the hub's real environment")
        if "given password" not in allow:
            found += [f"given password {p}" for p in given_in(blob)]
        return found

    def assert_clean(self, blob: bytes, where: str, allow: tuple[str, ...] = ()) -> None:
        found = self.leaks(blob, allow)
        assert not found, f"{where} shows {', '.join(found)}"

    # -- the engine -----------------------------------------------------------------------------

    def reconcile(self, name: str = "target") -> Outcome:
        """One real reconcile, on a hub whose Terraform binary does not exist, timed."""
        launcher = Launcher(self.root / "no-terraform-here", version="1.0.3")
        hub = make_hub(self.settings, terraform=launcher)
        started = time.perf_counter()
        with measured(f"reconcile {name}"):
            outcome = reconcile(name, hub)
        took = time.perf_counter() - started
        timed(f"reconcile {name}", took)
        assert took < LIMIT_SECONDS, f"reconcile {name} took {took:.2f} s"
        return outcome

    # -- one example ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def case(self, phase: str | None = "build_success") -> Iterator[None]:
        self.reset(phase)
        self.log.lines.clear()
        yield
        assert self.snapshot() == self.protected, "another cluster's files (or the outside file) changed"
        self.assert_clean("\n".join(self.log.lines).encode("utf-8", "replace"), "the log")
        self.assert_no_given_password_in_specs()
        self.assert_nothing_copied()

    def assert_nothing_copied(self) -> None:
        """No secret in the state of the target (or of a cluster a request made): status, runs,
        main.tf, logs; a password given or written by hand only in that cluster's secret store."""
        for folder, dirs, files in os.walk(self.clusters):
            if Path(folder) == self.clusters:
                dirs[:] = [d for d in dirs if d not in PROTECTED]  # theirs are checked unchanged
            for name in files:
                path = Path(folder, name)
                if not stat.S_ISREG(os.lstat(path).st_mode):
                    continue
                allow = ("target password", "given password") if name == "secrets.json" else ()
                self.assert_clean(path.read_bytes(), str(path.relative_to(self.root)), allow)

    def assert_no_given_password_in_specs(self) -> None:
        """A guest password given with a request goes to the secret store: never a spec file."""
        with os.scandir(self.specs) as entries:
            files = [Path(e.path) for e in entries if e.is_file(follow_symlinks=False)]
        for path in files:
            assert not given_in(path.read_bytes()), f"specs/{path.name} holds a given password"

    def assert_git_clean(self) -> None:
        """The specs' git history (every commit the web view made) holds no secret and no guest
        password a request gave (the bystander's hand-written one is its own person's doing)."""
        done = subprocess.run(
            ["git", "-C", str(self.specs), "log", "-p", "--all", "--format=%an %ae %s"],
            capture_output=True, check=True,
        )  # fmt: skip
        self.assert_clean(done.stdout, "git history", allow=("bystander hand-written password",))


def describe(path: Path) -> tuple[Any, ...]:
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        return ("link", os.readlink(path))
    if stat.S_ISREG(st.st_mode):
        return ("file", path.read_bytes(), stat.S_IMODE(st.st_mode))
    return ("other", stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode))


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def csrf_of(client: TestClient, url: str) -> str:
    match = CSRF_RE.search(client.get(url).text)
    assert match, f"no CSRF token on {url}"
    return match.group(1)
