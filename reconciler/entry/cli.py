"""`mchub`: the command line. Each subcommand parses its flags and hands over to the module that
does the work; nothing here decides or runs Terraform itself."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from reconciler.entry import resources, serve
from reconciler.entry.logs import configure_logging
from reconciler.model.settings import Settings, SettingsError, load_settings
from reconciler.terraform import TerraformError


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(Path(args.settings) if args.settings else None)
    overrides: dict[str, Any] = {}
    for flag, key in (("specs", "specs_dir"), ("clusters", "clusters_dir")):
        if getattr(args, flag, None):
            overrides[key] = Path(getattr(args, flag))
    if overrides:
        from dataclasses import replace

        settings = replace(settings, **overrides)
    return settings


def cmd_schema(args: argparse.Namespace) -> int:
    from reconciler.model.spec import json_schema

    print(json.dumps(json_schema(), indent=2))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from reconciler.model.projects import project_problem
    from reconciler.model.spec import SpecError, load_spec

    bad = 0
    settings = _settings(args)  # the hub's own limits (settings file, MCHUB_MAX_*) and projects
    for name in args.files:
        path = Path(name)
        try:
            spec = load_spec(path, settings.limits)
            problem = project_problem(spec.project, spec.cloud, settings.projects)
            if problem is not None:  # as the hub reads it: with projects, a spec names one
                bad += 1
                print(f"{path}: {problem[0]}: {problem[1]}", file=sys.stderr)
                continue
        except FileNotFoundError:
            print(f"{path}: no such file", file=sys.stderr)
            bad += 1
        except SpecError as exc:
            bad += 1
            for err in exc.errors:
                print(f"{path}: {err}", file=sys.stderr)
        else:
            print(f"{path}: ok")
    return 1 if bad else 0


def cmd_render(args: argparse.Namespace) -> int:
    """main.tf as the hub last rendered it: with the images recorded for the cluster, if any."""
    from reconciler.engine.imagepins import pins_for
    from reconciler.engine.render import render_main_tf, state_backend
    from reconciler.model.spec import SpecError, load_spec
    from reconciler.model.status import read_status

    settings = _settings(args)
    try:
        spec = load_spec(settings.specs_dir / f"{args.name}.yaml", settings.limits)
        workdir = settings.clusters_dir / args.name
        status = read_status(settings.clusters_dir, args.name)
        images = pins_for(spec, status.images, None) if status is not None else None
        cloud = settings.cloud(settings.cloud_of(spec.cloud, spec.project))  # a project's: its own
        backend = state_backend(settings.database_url, spec.cluster_name)  # database_url: the pg backend
        print(render_main_tf(spec, cloud, settings.templates_dir, workdir, images, backend=backend), end="")
    except (SpecError, SettingsError, FileNotFoundError) as exc:
        print(f"{args.name}: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_reconcile(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from reconciler.cloud.catalog import Catalog
    from reconciler.engine.hub import make_hub
    from reconciler.engine.loop import HubBusy, Loop, take_hub_lock
    from reconciler.entry.sharing import sharing

    settings = _settings(args)
    if args.prune:
        settings = replace(settings, prune=True)
    with contextlib.ExitStack() as started:  # each part started is stopped, last first
        try:
            started.callback(take_hub_lock(settings.clusters_dir).close)
        except HubBusy as exc:
            print(f"mchub: {exc}", file=sys.stderr)
            return 2
        catalog = Catalog(settings)
        started.callback(catalog.stop)
        hub = make_hub(settings, catalog)  # TerraformError: no Terraform
        shared = started.enter_context(sharing(settings))  # with database_url: the leases of several hubs
        loop = Loop(hub, only=args.names or None, sharing=shared)
        if shared is not None:  # only the clusters no other hub holds; their statuses pushed
            hub.recorder.listeners.append(shared.pushed)
            shared.start()
        started.callback(loop.stop)
        try:
            loop.run(once=args.once)
        except KeyboardInterrupt:
            print("stopping: Terraform gets its grace period to save state ...", file=sys.stderr)
    if args.once:
        return print_status(settings, args.names, as_json=False)
    return 0


def print_status(settings: Settings, names: list[str] | None, as_json: bool) -> int:
    from reconciler.model.files import UnreadableFile
    from reconciler.model.specfiles import spec_names
    from reconciler.model.status import ERROR_PHASES, Phase, known_clusters, read_status

    wanted = names or sorted(set(spec_names(settings.specs_dir)) | set(known_clusters(settings.clusters_dir)))
    rows, unreadable = [], {}
    for n in wanted:
        try:
            rows.append((n, read_status(settings.clusters_dir, n)))
        except UnreadableFile as exc:  # the hub sets it aside and says so; here, just say so
            unreadable[n] = str(exc)
    for n, why in unreadable.items():
        print(f"{n}: {why}; the running hub moves it aside and records an error for it", file=sys.stderr)
    if as_json:
        print(json.dumps({n: s.model_dump(mode="json") if s else None for n, s in rows}, indent=2))
    else:
        print(f"{'CLUSTER':<20} {'PHASE':<18} {'REASON':<18} {'UPDATED':<20} MESSAGE")
        for name, status in rows:
            if status is None:
                print(f"{name:<20} {'pending':<18} {'not reconciled yet':<18}")
                continue
            flags = (" [orphaned]" if status.orphaned else "") + (" [drift]" if status.drift.detected else "")
            if status.provisioning is not None:  # readiness after the build: waiting, ready, error
                flags += f" [provisioning: {status.provisioning.message.splitlines()[0]}]"
            when = status.updated_at.strftime("%Y-%m-%d %H:%M:%S") if status.updated_at else ""
            print(
                f"{name:<20} {status.phase.value:<18} {status.reason.value:<18} {when:<20} "
                f"{status.message.splitlines()[0] if status.message else ''}{flags}"
            )
    bad = any(s is not None and (s.phase in ERROR_PHASES or s.phase == Phase.INVALID) for _, s in rows)
    return 1 if bad or unreadable else 0


def cmd_status(args: argparse.Namespace) -> int:
    settings = _settings(args)
    names = [args.name] if args.name else None
    if args.project:
        if settings.projects and args.project not in settings.projects:
            choices = ", ".join(sorted(settings.projects))
            message = f"--project: {args.project!r} is not a project of this hub; choose one of {choices}"
            print(message, file=sys.stderr)
            return 2
        names = [n for n in (names or _spec_names(settings)) if _project_of(settings, n) == args.project]
        if not names:
            print(f"no clusters in project {args.project}", file=sys.stderr)
            return 0
    return print_status(settings, names, args.json)


def status_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", nargs="?")
    p.add_argument("--json", action="store_true")
    p.add_argument("--project", metavar="NAME", help="only the clusters whose spec names this project")


def _spec_names(settings: Settings) -> list[str]:
    from reconciler.model.specfiles import spec_names

    return sorted(spec_names(settings.specs_dir))


def _project_of(settings: Settings, name: str) -> str | None:
    """The project a cluster's spec names (None: none, or the spec cannot be read)."""
    from reconciler.model.spec import SpecError, load_spec

    try:
        return load_spec(settings.specs_dir / f"{name}.yaml", settings.limits).project
    except (OSError, SpecError):
        return None


def _cli_user() -> str:
    return f"{os.environ.get('USER') or 'cli'} (cli)"


def cmd_approve(args: argparse.Namespace) -> int:
    """Approve the plan named (none named is refused, as on the page and in the API)."""
    from reconciler.model.approvals import NotApprovable, approvable_plan, approve
    from reconciler.model.spec import CLUSTER_NAME_RE
    from reconciler.model.status import read_status

    settings = _settings(args)
    try:
        if not CLUSTER_NAME_RE.fullmatch(args.name):
            raise NotApprovable("not a cluster name (lowercase letters, digits and -, 2 to 41 of them)")
        plan = approvable_plan(args.name, read_status(settings.clusters_dir, args.name), args.plan_id)
    except (NotApprovable, ValueError) as exc:  # ValueError: a status file that cannot be read
        print(f"{args.name}: {exc}", file=sys.stderr)
        return 1
    approve(settings.specs_dir, args.name, plan.id, _cli_user(), dt.datetime.now(dt.UTC))
    print(f"{args.name}: approved plan {plan.id} ({plan.summary()})")
    return 0


def cmd_retry(args: argparse.Namespace) -> int:
    """Ask the hub to retry a failed cluster now, without waiting for its backoff."""
    from reconciler.model.retries import NotRetryable, check_retryable, request_retry
    from reconciler.model.spec import CLUSTER_NAME_RE
    from reconciler.model.status import read_status

    settings = _settings(args)
    try:
        if not CLUSTER_NAME_RE.fullmatch(args.name):
            raise NotRetryable("not a cluster name (lowercase letters, digits and -, 2 to 41 of them)")
        check_retryable(args.name, read_status(settings.clusters_dir, args.name))
    except (NotRetryable, ValueError) as exc:  # ValueError: a status file that cannot be read
        print(f"{args.name}: {exc}", file=sys.stderr)
        return 1
    request_retry(settings.specs_dir, args.name, _cli_user(), dt.datetime.now(dt.UTC))
    print(f"{args.name}: retry requested; the hub tries again within seconds (`mchub status {args.name}`)")
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    from reconciler.model import runs

    settings = _settings(args)
    records = runs.list_records(settings.clusters_dir, args.name)
    run_id = args.run or (records[0].id if records else None)
    path = runs.log_path(settings.clusters_dir, args.name, run_id) if run_id else None
    if path is None or not path.exists():
        print(f"{args.name}: {'no run ' + run_id if run_id else 'no runs yet'}", file=sys.stderr)
        return 1
    with open(path, encoding="utf-8", errors="replace") as f:
        sys.stdout.write(f.read())
        while args.follow:
            line = f.readline()
            if line:
                sys.stdout.write(line)
                sys.stdout.flush()
                continue
            # The run record says when the run is over (or its hub died without saying so).
            record = runs.read_record(settings.clusters_dir, args.name, str(run_id))
            if record is None or record.result != "running" or not runs.pid_alive(record.hub_pid):
                sys.stdout.write(f.read())
                break
            time.sleep(0.3)
    return 0


def cmd_resources(args: argparse.Namespace) -> int:
    return resources.run(args, _settings(args))


def cmd_import_mchub(args: argparse.Namespace) -> int:
    from reconciler.entry import importer

    return importer.run(args, _settings(args))


def import_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", metavar="DIR", help="an MC Hub cluster folder (main.tf.json, terraform.tfstate)")
    p.add_argument("--cloud", metavar="NAME", help="the cloud it is on (default: the hub's default_cloud)")
    p.add_argument("--dry-run", action="store_true", help="check it and print the spec; write nothing")


def cmd_doctor(args: argparse.Namespace) -> int:
    from reconciler.entry import doctor

    return doctor.run(args, _settings(args))


def doctor_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("cloud", nargs="?", help="a cloud of the settings (default: the default cloud)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for each answer (10)")


SANDBOX_HELP = "run the local OpenStack-compatible sandbox cloud"


def cmd_sandbox(args: argparse.Namespace) -> int:
    """The sandbox's flags are its own (`python -m sandbox.server` takes the same, and its `faults`
    and `reset` commands): sandbox.server parses them, so that `mchub` loads the sandbox (and
    uvicorn) only for this command."""
    from sandbox import server

    return server.main(args.passed_on, prog="mchub sandbox", description=SANDBOX_HELP)


def cmd_serve(args: argparse.Namespace) -> int:
    return serve.serve(args, _settings(args))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mchub", description="Magic Castle clusters on OpenStack, as YAML specs"
    )
    parser.add_argument("--settings", help="hub settings YAML file (or MCHUB_SETTINGS)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default=os.environ.get("MCHUB_LOG_FORMAT", "text"),
        help="one line per event, as text or JSON (MCHUB_LOG_FORMAT)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, func: Any, help: str, dirs: bool = True, **kw: Any) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help, **kw)
        p.set_defaults(func=func)
        if dirs:
            p.add_argument("--specs", metavar="DIR", help="specs directory (MCHUB_SPECS; default ./specs)")
            p.add_argument(
                "--clusters", metavar="DIR", help="clusters directory (MCHUB_CLUSTERS; default ./clusters)"
            )
        return p

    command("schema", cmd_schema, "print the JSON Schema of a cluster spec", dirs=False)
    p = command(
        "validate", cmd_validate, "check spec files; print each problem with its field path", dirs=False
    )
    p.add_argument("files", nargs="+", metavar="FILE")
    p = command("render", cmd_render, "print the main.tf a spec produces")
    p.add_argument("name")
    p = command("reconcile", cmd_reconcile, "converge clusters to their specs (until Ctrl-C, or --once)")
    p.add_argument("--once", action="store_true", help="reconcile each cluster once, print the status, exit")
    p.add_argument("--prune", action="store_true", help="destroy clusters whose spec file was removed")
    p.add_argument("names", nargs="*", metavar="NAME")
    status_arguments(command("status", cmd_status, "show each cluster's phase, reason and message"))
    p = command("approve", cmd_approve, "approve the plan waiting for a manual-apply cluster, by its id")
    p.add_argument("name")
    p.add_argument(
        "plan_id", nargs="?", help="the plan you approve, as `mchub status` and its page show it (required)"
    )
    p = command("retry", cmd_retry, "retry a failed cluster now, without waiting for its backoff")
    p.add_argument("name")
    p = command("logs", cmd_logs, "print a cluster's latest run log")
    p.add_argument("name")
    p.add_argument("--run", help="a run id (default: the latest)")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing while the run goes on")
    p = command("resources", cmd_resources, "the cloud's flavors, images, networks and free quota")
    resources.add_arguments(p)
    import_arguments(
        command("import-mchub", cmd_import_mchub, "bring a cluster MC Hub built (its folder) under the hub")
    )
    doctor_arguments(command("doctor", cmd_doctor, "check a cloud and this machine: ready, or what to fix"))
    p = command("sandbox", cmd_sandbox, SANDBOX_HELP, dirs=False, add_help=False)
    p.set_defaults(passes_on=True)  # its flags (and -h) go to cmd_sandbox
    p = command("serve", cmd_serve, "run the hub: reconciler loop (and, with --sandbox, the sandbox cloud)")
    serve.add_arguments(p)
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; a command that `passes_on` gets the flags it does not know itself as
    `passed_on`, every other command refuses them."""
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if rest and not getattr(args, "passes_on", False):
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    args.passed_on = rest
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(args.verbose, args.log_format == "json")
    try:
        return int(args.func(args))
    except (SettingsError, TerraformError) as exc:  # a setting to fix, or no Terraform: one line
        print(f"mchub: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
