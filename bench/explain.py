"""The plans of the hot queries: ``python -m bench explain`` (PostgreSQL, generated data).

For every benchmark scenario (``bench/run.py``) it makes the scenario's first request
in-process, as the generated owner, captures the SQL the request ran, and asks
PostgreSQL for ``EXPLAIN (ANALYZE, BUFFERS)`` of the slowest statements. The result is
written to ``bench/notes/plans.md`` (``--out`` to write elsewhere): the request, its
query count and SQL time, and per statement the SQL and the plan. The reasoning about
the plans lives beside it in the other notes (``search.md``, ``opportunities.md``…);
this file is the evidence, made again with one command after a schema change.

    DATABASE_URL=postgres://…/bench_full python -m bench explain --only "contact,lead"
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import OWNER_EMAIL, ROOT, setup_django

NOTES = ROOT / "bench" / "notes" / "plans.md"
PLAN_SQL_CHARS = 1_500  # SQL longer than this is cut in the notes (the plan is whole)


def _client(owner, org, raw_key):
    from django.test import Client

    session = Client()
    session.force_login(owner)
    store = session.session
    store["pulse_org_id"] = str(org.pk)
    store.save()
    return {"session": session, "token": Client(HTTP_AUTHORIZATION=f"Token {raw_key}")}


def _explain(sql: str) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
        return "\n".join(row[0] for row in cursor.fetchall())


def explain_scenario(scenario, clients, top: int) -> dict:
    from django.db import connection, reset_queries

    path = scenario.path[0] if isinstance(scenario.path, list) else scenario.path
    headers = {"HTTP_HX_REQUEST": "true"} if scenario.htmx else {}
    client = clients[scenario.auth]
    client.get(path, **headers)  # warm: caches, plan cache, pages in memory
    if scenario.before is not None:
        scenario.before(1)  # e.g. a write that makes the request compute, not read a cache
    reset_queries()
    started = time.perf_counter()
    response = client.get(path, **headers)
    took = (time.perf_counter() - started) * 1000
    queries = list(connection.queries)
    slowest = sorted(queries, key=lambda q: float(q["time"]), reverse=True)[:top]
    plans = []
    for query in slowest:
        sql = query["sql"]
        if not sql.lstrip().upper().startswith(("SELECT", "WITH")):
            continue
        try:
            plan = _explain(sql)
        except Exception as exc:  # noqa: BLE001 - a plan we cannot get is noted, not fatal
            plan = f"(no plan: {exc.__class__.__name__}: {exc})"
        plans.append({"ms": float(query["time"]) * 1000, "sql": sql, "plan": plan})
    return {
        "name": scenario.name,
        "path": path,
        "status": response.status_code,
        "ms": took,
        "queries": len(queries),
        "sql_ms": sum(float(q["time"]) for q in queries) * 1000,
        "plans": plans,
    }


def write_notes(out: Path, results: list[dict], data: dict) -> None:
    lines = [
        "# Plans of the hot queries (made by `python -m bench explain`)",
        "",
        "Each section is one benchmark scenario's first request, made in-process as the",
        "generated owner after one warm-up request, with its slowest statements and",
        "`EXPLAIN (ANALYZE, BUFFERS)` of each. Data: "
        f"{data['contacts']:,} contacts, {data['companies']:,} companies,"
        f" {data.get('opportunities', 0):,} deals, {data.get('activities', 0):,} activities.",
        "Read the reasoning in the other notes of this folder; regenerate this file after a",
        "schema or query change and compare.",
        "",
    ]
    for r in results:
        lines += [
            f"## {r['name']}",
            "",
            f"`GET {r['path']}` → {r['status']}: {r['queries']} queries,"
            f" {r['sql_ms']:.1f} ms of SQL, {r['ms']:.0f} ms in all (in-process, DEBUG"
            " query log on).",
            "",
        ]
        for p in r["plans"]:
            sql = p["sql"]
            if len(sql) > PLAN_SQL_CHARS:
                sql = sql[:PLAN_SQL_CHARS] + " …"
            lines += [
                f"### {p['ms']:.1f} ms",
                "",
                "```sql",
                sql,
                "```",
                "",
                "```",
                p["plan"],
                "```",
                "",
            ]
    out.write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench explain", description=__doc__)
    parser.add_argument("--only", default="", help="scenarios whose name contains this (a,b)")
    parser.add_argument("--top", type=int, default=2, help="plans per request (slowest first)")
    parser.add_argument("--out", type=Path, default=NOTES)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    setup_django()
    from django.conf import settings
    from django.db import connection

    from pulse.accounts.models import User
    from pulse.accounts.services import api_token_create, api_token_revoke

    from .run import sample_data, scenarios

    if connection.vendor != "postgresql":
        raise SystemExit("EXPLAIN ANALYZE notes are made on PostgreSQL (DATABASE_URL).")
    settings.DEBUG = True  # the query log
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    data = sample_data(args.seed, 3)
    owner = User.objects.get(email=OWNER_EMAIL)
    token, raw_key = api_token_create(user=owner, org=data["org"], name="bench explain")
    clients = _client(owner, data["org"], raw_key)
    results = []
    try:
        for scenario in scenarios(data):
            wanted = [part for part in args.only.split(",") if part]
            if scenario.unavailable or (wanted and not any(w in scenario.name for w in wanted)):
                continue
            result = explain_scenario(scenario, clients, args.top)
            results.append(result)
            print(
                f"  {result['name']}: {result['queries']} queries, {result['sql_ms']:.1f} ms SQL",
                file=sys.stderr,
            )
    finally:
        api_token_revoke(token=token, actor=owner)
    write_notes(args.out, results, data)
    print(f"written to {args.out}")
    return 0
