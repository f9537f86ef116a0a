"""The load test (issue 8): 100 concurrent users for 5 minutes against gunicorn (4 workers).

    DATABASE_URL=postgres://…/bench_full python -m bench.load            # make loadtest
    python -m bench.load --users 20 --minutes 1                           # a quick look

Starts gunicorn with production settings on a free port of 127.0.0.1, samples records of
the generated big organization for the users (``bench/locustfile.py``), runs locust
headless — bounded: it stops by itself after ``--minutes`` — and prints per request type
the count, errors, p50, p95 and throughput against the targets (0 errors, p95 under
300 ms), writing the same to ``bench/results/load-<time>.json``.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from . import BIG_ORG_SLUG, OWNER_EMAIL, PASSWORD, RESULTS_DIR, ROOT, setup_django

P95_TARGET_MS = 300


def samples(seed: int) -> dict:
    """Ids and terms the users pick from (JSON-ready)."""
    from pulse.accounts.models import Membership
    from pulse.core.tenancy import tenant_context
    from pulse.opportunities.models import Opportunity, Stage

    from .run import sample_data

    data = sample_data(seed, 20)
    org = data.pop("org")
    with tenant_context(org):
        stages = list(
            Stage.objects.filter(pipeline_id=data["pipeline_id"], type="open").values_list(
                "pk", flat=True
            )
        )
        open_deals = list(
            Opportunity.objects.filter(pipeline_id=data["pipeline_id"], status="open")
            .order_by("pk")
            .values_list("pk", flat=True)[:200]
        )
        members = list(
            Membership.objects.filter(user__is_active=True)
            .order_by("created_at")
            .values_list("user__email", flat=True)[:25]
        )
    return {
        **{k: v for k, v in data.items() if isinstance(v, (str, int, list))},
        "open_stage_ids": [str(s) for s in stages],
        "open_opportunity_ids": [str(o) for o in open_deals],
        "members": members,
        "owner_email": OWNER_EMAIL,
        "password": PASSWORD,
        "org": BIG_ORG_SLUG,
    }


def read_stats(path: Path) -> list[dict]:
    rows = []
    with path.open() as fh:
        for row in csv.DictReader(fh):
            rows.append(
                {
                    "name": row["Name"],
                    "method": row["Type"],
                    "requests": int(row["Request Count"]),
                    "errors": int(row["Failure Count"]),
                    "p50_ms": float(row["50%"] or 0),
                    "p95_ms": float(row["95%"] or 0),
                    "rps": float(row["Requests/s"] or 0),
                }
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--spawn-rate", type=float, default=10)
    parser.add_argument("--minutes", type=float, default=5)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    setup_django()
    from django.db import connection

    from .run import Server

    vendor = connection.vendor
    data = samples(args.seed)
    connection.close()
    server = Server(workers=args.workers)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            sample_file = Path(tmp) / "samples.json"
            sample_file.write_text(json.dumps(data))
            prefix = Path(tmp) / "load"
            seconds = int(args.minutes * 60)
            cmd = [
                str(Path(sys.executable).parent / "locust"),
                "-f",
                str(ROOT / "bench" / "locustfile.py"),
                "--headless",
                "--users",
                str(args.users),
                "--spawn-rate",
                str(args.spawn_rate),
                "--run-time",
                f"{seconds}s",
                "--stop-timeout",
                "10",
                "--host",
                f"http://127.0.0.1:{server.port}",
                "--csv",
                str(prefix),
                "--only-summary",
                "--loglevel",
                "WARNING",
            ]
            env = {**os.environ, "PULSE_LOAD_SAMPLES": str(sample_file)}
            subprocess.run(cmd, cwd=ROOT, env=env, timeout=seconds + 120, check=False)
            rows = read_stats(Path(f"{prefix}_stats.csv"))
    finally:
        server.stop()

    total = next((r for r in rows if r["name"] == "Aggregated"), None)
    by_type = [r for r in rows if r["name"] != "Aggregated"]
    print()
    print(
        f"Load test: {args.users} users, {args.minutes:g} min, gunicorn {args.workers} workers, "
        f"{vendor}"
    )
    header = (
        f"{'request':34} {'count':>7} {'errors':>6} {'p50 ms':>7} {'p95 ms':>7} {'req/s':>6}  ok"
    )
    print(header)
    print("-" * len(header))
    failed = False
    for r in sorted(by_type, key=lambda r: -r["requests"]) + ([total] if total else []):
        ok = r["errors"] == 0 and r["p95_ms"] < P95_TARGET_MS
        failed |= not ok
        print(
            f"{r['name'][:34]:34} {r['requests']:>7} {r['errors']:>6} {r['p50_ms']:>7.0f} "
            f"{r['p95_ms']:>7.0f} {r['rps']:>6.1f}  {'pass' if ok else 'FAIL'}"
        )
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS_DIR / f"load-{stamp}.json"
    out.write_text(
        json.dumps(
            {
                "kind": "load",
                "at": stamp,
                "vendor": vendor,
                "users": args.users,
                "minutes": args.minutes,
                "workers": args.workers,
                "target": {"errors": 0, "p95_ms": P95_TARGET_MS},
                "requests": by_type,
                "total": total,
            },
            indent=2,
        )
    )
    print(f"\nwritten to {out.relative_to(ROOT)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
