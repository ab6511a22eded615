"""The hub's clone of the specs' git remote (settings.specs_remote), kept in `specs_dir`: pulled every
`specs_pull_interval` seconds and when poked (the webhook), and pushed after the web form commits.

A pull is fetch + rebase of the hub's own commits onto the remote's branch, so the remote is the
truth and the hub's edits ride on top of it; the reconcile loop's watchdog sees the files a pull
changes as ordinary file events. A push that the remote refuses because someone pushed first is
retried after a fetch and a rebase. A real conflict (the same lines edited here and on the remote)
keeps the hub's commits on a branch `mchub/conflict-<time>-<commit>`, pushed to the remote when it can be,
and the hub follows the remote again: no edit is lost, and every hub builds from the same specs.
One lock serializes pulls, pushes and the web view's writes and commits on the clone."""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from reconciler.gitsync.clone import fetch, prepare_clone
from reconciler.gitsync.git import HUB_IDENTITY, GitError, Repo, redact, userinfo_of
from reconciler.model.settings import Settings

log = logging.getLogger("mchub.gitsync")
PUSH_ATTEMPTS = 4  # a push refused as non-fast-forward: fetch, rebase, push again, this many times
POKE_DEBOUNCE = 0.5  # seconds a poke waits for the rest of a burst of webhooks
REJECTED = ("[rejected]", "non-fast-forward", "fetch first", "stale info", "[remote rejected]")


class Conflict(GitError):
    """The hub's commits could not be rebased onto the remote's: they were kept on a branch."""

    def __init__(self, message: str, branch: str) -> None:
        super().__init__(message)
        self.branch = branch


@dataclass(frozen=True)
class PullResult:
    """One pull's outcome: when, whether it went through, and what it changed or why not."""

    at: dt.datetime
    ok: bool
    message: str
    changed: tuple[str, ...] = ()  # files the pull changed in specs_dir
    pushed: int = 0  # the hub's own commits pushed on the way
    conflict: str | None = None  # the branch that keeps commits which could not be rebased


@dataclass(frozen=True)
class PushResult:
    ok: bool
    message: str
    pushed: int = 0


class SpecsRemote:
    def __init__(self, settings: Settings, clock: Callable[[], dt.datetime] | None = None) -> None:
        if not settings.specs_remote:
            raise ValueError("SpecsRemote needs settings.specs_remote")
        self.url = settings.specs_remote
        self.branch = settings.specs_branch
        self.interval = settings.specs_pull_interval
        self.shown_url = redact(self.url, userinfo_of(self.url))  # what logs and pages may show
        self.repo = Repo(settings.specs_dir.resolve(), userinfo_of(self.url))
        self.lock = threading.RLock()
        self.last: PullResult | None = None
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._wake, self._stopping = threading.Event(), threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def upstream(self) -> str:
        return f"refs/remotes/origin/{self.branch}"

    # -- setting up ---------------------------------------------------------------------------

    def prepare(self) -> PullResult:
        """Clone into specs_dir, or check the clone there (CloneError, GitMissing), then pull once.
        A remote that does not answer now is not fatal for an existing clone: its specs are used."""
        with self.lock:
            prepare_clone(self.repo, self.url, self.shown_url, self.branch)
            return self.pull()

    # -- the web view's writes ----------------------------------------------------------------

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the clone while a spec is written and committed: no pull rebases under a write."""
        with self.lock:
            yield

    # -- pull and push ------------------------------------------------------------------------

    def pull(self) -> PullResult:
        """Fetch, rebase the hub's commits onto the remote's branch, push them; never raises."""
        with self.lock:
            try:
                result = self._pull()
            except Conflict as exc:
                result = PullResult(self._clock(), False, str(exc), conflict=exc.branch)
            except GitError as exc:
                result = PullResult(self._clock(), False, f"pull from {self.shown_url} failed: {exc}")
            self._record(result)
            return result

    def push(self) -> PushResult:
        """Push the hub's commits (after the web form's commit); never raises. Not pushed: the
        message says why, and the next pull tries again."""
        with self.lock:
            try:
                pushed = self._push()
            except Conflict as exc:
                return PushResult(False, str(exc))
            except GitError as exc:
                retry = f"the hub tries again at its next pull (every {self.interval:g}s)"
                return PushResult(False, f"not pushed to {self.shown_url} yet: {exc}; {retry}")
            return PushResult(True, f"pushed {pushed} commit(s) to {self.shown_url}", pushed)

    def _pull(self) -> PullResult:
        before = self.repo.commit_of("HEAD")
        if fetch(self.repo, self.branch):
            self._rebase()
        pushed = self._push()
        after = self.repo.commit_of("HEAD")
        changed = self._changed(before, after)
        words = f"{len(changed)} file(s) changed" if changed else "up to date"
        if pushed:
            words += f", {pushed} commit(s) pushed"
        return PullResult(self._clock(), True, words, changed, pushed)

    def _changed(self, before: str | None, after: str | None) -> tuple[str, ...]:
        if after is None or before == after:
            return ()
        if before is None:
            return tuple(self.repo.out("ls-tree", "-r", "--name-only", after).splitlines())
        return tuple(self.repo.out("diff", "--name-only", before, after).splitlines())

    def _rebase(self) -> None:
        """Bring HEAD onto the remote's branch: fast-forward, or rebase the hub's own commits."""
        repo, upstream = self.repo, self.upstream
        if repo.commit_of("HEAD") is None:  # nothing here yet: take the remote's branch as it is
            repo.git("reset", "--quiet", "--hard", upstream)
            return
        if repo.count(f"HEAD..{upstream}") == 0:
            return  # nothing new on the remote
        edits = repo.dirty()
        if edits:
            raise GitError(
                f"uncommitted edits in {repo.dir} ({', '.join(edits[:5])}) block the pull: commit or "
                "remove them (the hub's own writes are always committed)"
            )
        if repo.count(f"{upstream}..HEAD") == 0:
            repo.git("merge", "--quiet", "--ff-only", upstream)
            return
        done = repo.git(*HUB_IDENTITY, "rebase", "--quiet", upstream, check=False)
        if done.returncode == 0:
            return
        unmerged = repo.git("diff", "--name-only", "--diff-filter=U", check=False).stdout.split()
        repo.git("rebase", "--abort", check=False)
        if not unmerged:  # not a conflict (a file in the way, ...): say what git said, change nothing
            raise GitError(redact(f"git rebase: {(done.stderr or done.stdout).strip()}", repo.secrets))
        self._keep_conflict(unmerged)

    def _keep_conflict(self, files: list[str]) -> None:
        """Keep the hub's commits that conflict on a branch (here and, if it can, on the remote),
        then follow the remote's branch. Raises Conflict saying where they are."""
        repo, upstream = self.repo, self.upstream
        stamp = self._clock().strftime("%Y%m%d-%H%M%S")
        keep = f"mchub/conflict-{stamp}-{repo.out('rev-parse', '--short', 'HEAD')}"  # never an old one's name
        mine = repo.out("log", "--format=%h %an: %s", f"{upstream}..HEAD").splitlines()
        repo.git("branch", "--force", keep, "HEAD")
        repo.git("reset", "--quiet", "--hard", upstream)
        shared = (
            repo.git("push", "--quiet", "origin", f"{keep}:refs/heads/{keep}", check=False).returncode == 0
        )
        where = (
            f"branch {keep} on {self.shown_url}" if shared else f"branch {keep} in {repo.dir} (not pushed)"
        )
        message = (
            f"conflict: the remote changed {', '.join(files)} where this hub's commits "
            f"({'; '.join(mine[:3])}) changed them too; the hub's commits are kept on {where} and the "
            f"hub now follows {self.branch} as the remote has it: merge that branch into {self.branch} "
            "to apply them"
        )
        log.warning("specs: %s", message)
        raise Conflict(message, keep)

    def _push(self) -> int:
        """Push HEAD to the remote's branch: the commits it adds, 0 when none were waiting."""
        repo = self.repo
        for attempt in range(PUSH_ATTEMPTS):
            exists = repo.commit_of(self.upstream) is not None
            ahead = (
                repo.count(f"{self.upstream}..HEAD" if exists else "HEAD") if repo.commit_of("HEAD") else 0
            )
            if ahead == 0:
                return 0
            done = repo.git("push", "--porcelain", "origin", f"HEAD:refs/heads/{self.branch}", check=False)
            if done.returncode == 0:
                repo.git("update-ref", self.upstream, "HEAD")  # what the remote has now
                return ahead
            said = done.stderr + done.stdout
            if not any(word in said for word in REJECTED):
                raise GitError(redact(f"git push: {done.stderr.strip() or said.strip()}", repo.secrets))
            time.sleep(random.uniform(0.05, 0.3) * (attempt + 1))  # another hub pushed first: let it finish
            if fetch(repo, self.branch):
                self._rebase()
        raise GitError(f"the remote's {self.branch} kept moving; gave up after {PUSH_ATTEMPTS} attempts")

    def _record(self, result: PullResult) -> None:
        previous, self.last = self.last, result
        if result.changed or result.pushed:
            log.info("specs from %s: %s (%s)", self.shown_url, result.message, ", ".join(result.changed[:10]))
        elif not result.ok and (previous is None or previous.message != result.message):
            log.warning("specs: %s", result.message)  # once per new problem, not every interval
        elif result.ok and previous is not None and not previous.ok:
            log.info("specs from %s: pulling again", self.shown_url)

    # -- the thread ---------------------------------------------------------------------------

    def poke(self) -> None:
        """Pull soon (a webhook): a burst of pokes makes one pull."""
        self._wake.set()

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="specs-pull", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 70.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stopping.is_set():
            poked = self._wake.wait(self.interval)
            if self._stopping.is_set():
                return
            if poked:
                self._stopping.wait(POKE_DEBOUNCE)
            self._wake.clear()
            try:
                self.pull()
            except Exception:  # the thread never dies: a surprise is logged and the next turn tries again
                log.exception("specs: pulling from %s failed unexpectedly", self.shown_url)

    def describe(self) -> str:
        """One line for a status display or `mchub doctor`."""
        head = f"specs from {self.shown_url} ({self.branch})"
        if self.last is None:
            return f"{head}: not pulled yet"
        return f"{head}: last pull {self.last.at:%Y-%m-%d %H:%M:%S} UTC: {self.last.message}"
