"""`mchub resources [--cloud NAME | --project NAME] [--cluster NAME] [--json]`: the catalog's payload
(the same one `GET /api/resources` serves) printed as readable tables, or as JSON. A project's
figures are its cloud entry's: its allocation and quota (shared with any project on that entry)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from reconciler.cloud.catalog import Catalog, CatalogError
from reconciler.cloud.payload import project_cloud
from reconciler.model.settings import Settings

# The command line's own words, units in the label (its cells are bare numbers); the pages say it
# their way (reconciler.cloud.figures.QUOTA_LABELS). Scripts may read these: keep them stable.
QUOTA_LABELS = {
    "instances": "instances",
    "cores": "cores",
    "ram": "RAM (MiB)",
    "volumes": "volumes",
    "gigabytes": "volume storage (GB)",
    "floating_ips": "floating IPs",
    "security_groups": "security groups",
    "security_group_rules": "security group rules",
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--cloud", metavar="NAME", help="clouds.yaml entry (default: the cluster's, or the default cloud)"
    )
    p.add_argument(
        "--project", metavar="NAME", help="a project of the settings: the figures of its cloud (its quota)"
    )
    p.add_argument(
        "--cluster", metavar="NAME", help="give this cluster's own usage back to what remains (editing)"
    )
    p.add_argument("--json", action="store_true", help="print the JSON payload of GET /api/resources")


def run(args: argparse.Namespace, settings: Settings) -> int:
    cloud = args.cloud
    if args.project:
        try:
            cloud = project_cloud(settings.projects, args.project, cloud)
        except ValueError as exc:
            print(f"resources: --{exc}", file=sys.stderr)
            return 2
    catalog = Catalog(settings)
    try:
        data = catalog.payload(cloud, args.cluster, settings.clusters_dir)
    except CatalogError as exc:
        print(f"resources: {exc}", file=sys.stderr)
        return 2
    finally:
        catalog.stop(timeout=0.0)
    if args.json:
        print(json.dumps({**data, "project": args.project} if args.project else data, indent=2))
    else:
        print(render({**data, "project": args.project}), end="")
    if data["error"]:
        print(f"resources: {data['error']}", file=sys.stderr)
    return 0 if data["fetched_at"] is not None else 1


def render(data: dict[str, Any]) -> str:
    """The payload as plain-text tables."""
    head = f"Cloud {data['cloud']}"
    if data.get("project"):
        head += f" (project {data['project']})"
    if data.get("cluster"):
        head += f", editing cluster {data['cluster']} (its own usage is counted as free)"
    if data["fetched_at"] is None:
        return head + ": no figures yet\n"
    head += f", figures from {data['fetched_at']} ({data['age_seconds']:.0f} s ago)"
    if data["stale"]:
        head += " STALE: the cloud did not answer since"
    out = [head, ""]
    rows = [
        [
            QUOTA_LABELS.get(k, k),
            *(
                ("unknown",) * 3
                if q.get("unknown")
                else (_n(q["limit"]), str(q["in_use"]), _n(q["remaining"]))
            ),
        ]
        + ([str(q["cluster_usage"])] if data.get("cluster") else [])
        for k, q in data["quotas"].items()
    ]
    own = ["this cluster"] if data.get("cluster") else []
    out += _table(["quota", "limit", "in use", "remaining", *own], rows, right_from=1)
    flavors = [
        [f["name"], str(f["vcpus"]), str(f["ram"]), str(f["disk"]), _boot(f), ", ".join(f["roles"]) or "-"]
        for f in data["flavors"]
    ]
    out += _table(["flavor", "vCPUs", "RAM (MiB)", "disk (GB)", "boot volume (GB)", "roles"], flavors, 1, 5)
    out += _table(["image"], [[i] for i in data["images"]])
    nets = [[n["name"], "yes" if n["external"] else "no"] for n in data["networks"]]
    out += _table(["network", "external"], nets)
    types = [
        [t["name"], "yes" if t["default"] else "", t["description"]] for t in data.get("volume_types", [])
    ]
    out += _table(["volume type", "default", "description"], types)
    out += [
        f"could not read {part.replace('_', ' ')}: {why}" for part, why in data.get("unknown", {}).items()
    ]
    return "\n".join(out)


def _n(value: int | None) -> str:
    return "unlimited" if value is None else str(value)


def _boot(flavor: dict[str, Any]) -> str:
    node, mgmt = flavor["boot_volume_gb"], flavor["boot_volume_gb_mgmt"]
    if not node and not mgmt:
        return "-"
    return str(node) if node == mgmt else f"{node or '-'} ({mgmt} on mgmt)"


def _table(header: list[str], rows: list[list[str]], right_from: int = 99, right_to: int = 99) -> list[str]:
    if not rows:
        return [f"{header[0]}: (none)", ""]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        parts = [c.rjust(w) if right_from <= i < right_to else c.ljust(w) for i, (c, w) in
                 enumerate(zip(cells, widths, strict=True))]  # fmt: skip
        return "  ".join(parts).rstrip()

    return [line(header), line(["-" * w for w in widths]), *(line(r) for r in rows), ""]
