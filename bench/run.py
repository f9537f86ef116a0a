"""The benchmark suite: ``make bench`` (= ``python -m bench``).

Starts gunicorn (``pulse.wsgi``, 2 workers, 127.0.0.1, a free port) against
``DATABASE_URL`` with ``PULSE_BENCH=1`` (responses then carry ``Server-Timing`` and
``X-Query-Count``), signs in through the login page as the generated organization's
owner and makes a personal API token, then times every scenario: a warm-up, then
``--requests`` requests, reading the server's own time from ``Server-Timing``. Prints one
table (operation, data size, p50, p95, queries per request, target, pass/fail, and
each p95 as a multiple of the floor row: a trivial authenticated JSON endpoint) and
writes the same as JSON to ``bench/results/<timestamp>.json``.

Needs generated data: ``python -m bench generate --size large`` (PostgreSQL) or
``--size medium`` (SQLite) first.
"""

from __future__ import annotations

import argparse
import html
import http.client
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import quote, urlencode

from . import BIG_ORG_SLUG, OWNER_EMAIL, PASSWORD, RESULTS_DIR, ROOT, setup_django

# Targets in ms of server time at p95, by database (issues 3 and 4); None: measured, no
# target.
TARGETS = {
    "postgresql": {
        "list": 50,
        "search": 50,
        "detail": 30,
        "import": 60_000,
        "reminders": 30_000,
        "lead_list": 50,
        "pipeline": 100,
        "opp_board": 100,
        "forecast": 150,
        "timeline": 50,
        "calendar": 50,
        "global_search": 80,
        "dashboard": 300,
        "widget": 100,
        "report": 500,
    },
    "sqlite": {
        "list": 150,
        "search": 150,
        "detail": 150,
        "import": None,
        "reminders": None,
        "lead_list": 150,
        "pipeline": 300,
        "opp_board": 300,
        "forecast": 450,
        "timeline": 150,
        "calendar": 150,
        "global_search": 240,
        "dashboard": 900,
        "widget": 300,
        "report": 1500,
    },
}


@dataclass
class Scenario:
    name: str
    path: str | list[str]  # one path, or several used in turn
    kind: str | None = None  # key into TARGETS; None = informational
    auth: str = "session"  # or "token"
    size: str = ""
    htmx: bool = False
    # Skipped with a message while its page answers 404 (a feature still being built).
    optional: bool = False
    # Why it cannot run at all (its URL name does not resolve yet): skipped with this.
    unavailable: str = ""
    # Whether an answer is right (the index of its path, its body): a wrong one counts
    # as an error, so a fast wrong answer fails its row.
    check: object = None
    # Called (untimed) before each request: ``before(i)``, e.g. a write that makes the
    # next request compute instead of reading a cache.
    before: object = None


@dataclass
class Result:
    operation: str
    data_size: str
    requests: int
    p50_ms: float
    p95_ms: float
    client_p95_ms: float
    queries: float | None
    target_ms: float | None
    passed: bool | None
    floor_ratio: float | None = None
    errors: int = 0
    extra: dict = field(default_factory=dict)


class Server:
    """gunicorn on 127.0.0.1:<free port>, stopped on exit."""

    def __init__(self, workers: int = 2):
        self.port = _free_port()
        # Production settings, as an operator runs it: DEBUG off (cached templates, no
        # query log), hashed static files collected, plain HTTP on the loopback.
        env = {
            **os.environ,
            "PULSE_BENCH": "1",
            "DEBUG": "0",
            "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-only-secret-key-not-for-production"),
            "SECURE_SSL_REDIRECT": "0",
            "SECURE_COOKIES": "0",  # plain HTTP: a Secure cookie would never come back
            "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"),
        }
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
            cwd=ROOT,
            env=env,
            check=True,
        )
        self.proc = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "pulse.wsgi:application",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(workers),
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                status, _, _ = request(self.port, "GET", "/health/")
                if status == 200:
                    return
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise SystemExit("gunicorn exited; see its output above")
            time.sleep(0.3)
        self.stop()
        raise SystemExit("gunicorn did not answer /health/ within 60 s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def request(port, method, path, *, headers=None, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        return response.status, dict(response.getheaders()), data
    finally:
        conn.close()


def _cookies(headers: dict, jar: dict) -> None:
    for key, value in headers.items():
        if key.lower() == "set-cookie":
            cookie = SimpleCookie()
            cookie.load(value)
            for name, morsel in cookie.items():
                jar[name] = morsel.value


def login(port: int) -> str:
    """Sign in through the login form; returns the Cookie header value."""
    jar: dict[str, str] = {}
    status, headers, body = request(port, "GET", "/login/")
    _cookies(headers, jar)
    match = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', body)
    if status != 200 or not match:
        raise SystemExit(f"login page answered {status}")
    form = urlencode(
        {
            "csrfmiddlewaretoken": match.group(1).decode(),
            "username": OWNER_EMAIL,
            "password": PASSWORD,
        }
    )
    cookie = "; ".join(f"{k}={v}" for k, v in jar.items())
    status, headers, _ = request(
        port,
        "POST",
        "/login/",
        body=form,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": cookie,
            "Referer": f"http://127.0.0.1:{port}/login/",
        },
    )
    _cookies(headers, jar)
    if status != 302 or "sessionid" not in jar:
        raise SystemExit(f"signing in as {OWNER_EMAIL} failed ({status}); generate data first")
    return "; ".join(f"{k}={v}" for k, v in jar.items())


SERVER_TIMING = re.compile(r"app;dur=([0-9.]+)")


def time_scenario(port, scenario: Scenario, auth_headers: dict, n: int, warmup: int):
    paths = scenario.path if isinstance(scenario.path, list) else [scenario.path]
    headers = dict(auth_headers[scenario.auth])
    if scenario.htmx:
        headers["HX-Request"] = "true"
    server, client, queries, errors = [], [], [], 0
    for i in range(warmup + n):
        path = paths[i % len(paths)]
        if scenario.before is not None:
            scenario.before(i)
        started = time.perf_counter()
        status, response_headers, body = request(port, "GET", path, headers=headers)
        elapsed = (time.perf_counter() - started) * 1000
        if status != 200:
            errors += 1
            if errors <= 3:
                print(f"  ! {scenario.name}: {path} answered {status}", file=sys.stderr)
        elif scenario.check is not None and not scenario.check(i % len(paths), body):
            errors += 1
            if errors <= 3:
                print(f"  ! {scenario.name}: {path} gave a wrong answer", file=sys.stderr)
        if i < warmup:
            continue
        match = SERVER_TIMING.search(response_headers.get("Server-Timing", ""))
        server.append(float(match.group(1)) if match else elapsed)
        client.append(elapsed)
        if "X-Query-Count" in response_headers:
            queries.append(int(response_headers["X-Query-Count"]))
    return server, client, queries, errors


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * pct / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


# --- the data the scenarios use --------------------------------------------------------------


def sample_data(seed: int, samples: int) -> dict:
    """Counts, sample records and search terms from the generated big organization."""
    import phonenumbers
    from django.db.models import Count

    from pulse.accounts.models import Organization
    from pulse.contacts.models import Company, Contact
    from pulse.core.tenancy import tenant_context

    try:
        org = Organization.objects.get(slug=BIG_ORG_SLUG)
    except Organization.DoesNotExist:
        raise SystemExit("No generated data: run `python -m bench generate --size ...` first.")
    rng = random.Random(seed)
    with tenant_context(org):
        contacts = Contact.objects.all()
        n_contacts = contacts.count()
        n_companies = Company.objects.count()
        picked = []
        while len(picked) < samples:
            pivot = f"{rng.getrandbits(128):032x}"
            row = (
                contacts.filter(pk__gte=pivot, company__isnull=False)
                .exclude(email="")
                .select_related("company")
                .order_by("pk")
                .first()
            )
            if row is not None and row.pk not in {p.pk for p in picked}:
                picked.append(row)
        phones = [c.phone or c.mobile for c in picked if c.phone or c.mobile]
        if not phones:
            phones = list(
                contacts.exclude(phone="").order_by("pk").values_list("phone", flat=True)[:5]
            )
        national = [
            phonenumbers.format_number(
                phonenumbers.parse(p), phonenumbers.PhoneNumberFormat.NATIONAL
            )
            for p in phones
        ]
        parents = list(
            Company.objects.filter(children__isnull=False)
            .annotate(n=Count("children"))
            .order_by("-n", "pk")
            .values_list("pk", flat=True)[:samples]
        )
        leads = _sample_leads(rng, samples)
        opportunities = _sample_opportunities(rng, samples)
        activities = _sample_activities(org, samples)
        reports = _sample_reports(org)
        deep_cursor = _deep_cursor(contacts, n_contacts)
    company_words = [
        next((w for w in c.company.name.split() if len(w) >= 4), c.company.name) for c in picked
    ]
    return {
        "org": org,
        "contacts": n_contacts,
        "companies": n_companies,
        "contact_ids": [str(c.pk) for c in picked],
        "names": [f"{c.first_name} {c.last_name}" for c in picked],
        "typo_names": [f"{c.first_name} {_one_letter_typo(c.last_name, rng)}" for c in picked],
        "last_prefixes": [c.last_name[:4] for c in picked],
        "emails": [c.email for c in picked],
        "phones": national,
        "company_words": company_words,
        "parent_ids": [str(pk) for pk in parents],
        **leads,
        **opportunities,
        **activities,
        **reports,
        "deep_cursor": deep_cursor,
    }


CONTACT_RESULT = re.compile(r'href="/contacts/[0-9a-f-]{36}/"><i [^>]*></i>([^<]*)')


def _names_contact(body: bytes, full_name: str) -> bool:
    """Whether the global search's answer lists a contact named ``full_name``. The
    generated names repeat as real ones do (dozens of Barbara Hernandezes in a million
    contacts), so which namesake the search puts first cannot be "the intended one": any
    contact of that name in the first five is the right answer."""
    titles = [html.unescape(t).strip() for t in CONTACT_RESULT.findall(body.decode())]
    return full_name in titles[:5]


def _one_letter_typo(word: str, rng: random.Random) -> str:
    """``word`` with one inner letter replaced by another (Jonson for Johnson): the
    misspelling issue 8 asks search to forgive."""
    if len(word) < 4:
        return word
    at = rng.randrange(1, len(word) - 1)
    letters = [ch for ch in "aeioulnrst" if ch != word[at].lower()]
    return word[:at] + rng.choice(letters) + word[at + 1 :]


def _deep_cursor(contacts, n_contacts: int) -> str:
    """The API cursor of the contact list (newest first) half-way down the list."""
    from pulse.core.api_defaults import PageNumberPagination

    row = (
        contacts.order_by("-created_at", "-id")
        .values_list("created_at", "id")[max(0, n_contacts // 2 - 1) : n_contacts // 2]
        .first()
    )
    return PageNumberPagination._encode([row[0], row[1]]) if row else ""


def _sample_reports(org) -> dict:
    """Issue 7's grouped reports over every opportunity (saved once, as the owner)."""
    from pulse.accounts.models import User
    from pulse.reports.models import Report
    from pulse.reports.services import report_create

    owner = User.objects.get(email=OWNER_EMAIL)
    wanted = {
        "report_by_stage": (
            "Bench: all deals by stage",
            [{"field": "stage"}],
            [{"fn": "count"}, {"fn": "sum", "field": "value"}],
        ),
        "report_by_owner_month": (
            "Bench: all deals by owner and close month",
            [{"field": "assigned_to"}, {"field": "expected_close_date", "period": "month"}],
            [{"fn": "count"}, {"fn": "sum", "field": "value"}],
        ),
    }
    out = {}
    for key, (name, group_by, aggregates) in wanted.items():
        report = Report.objects.filter(name=name, deleted_at__isnull=True).first()
        if report is None:
            report = report_create(
                org=org,
                actor=owner,
                name=name,
                record_type="opportunities",
                group_by=group_by,
                aggregates=aggregates,
                chart_type="bar",
                visibility="shared",
            )
        out[key] = str(report.pk)
    return out


def _sample_leads(rng: random.Random, samples: int) -> dict:
    """The lead count and a few lead ids (inside the big organization's context)."""
    from pulse.leads.models import Lead

    leads = Lead.objects.all()
    n_leads = leads.count()
    picked: list[str] = []
    for _ in range(samples * 3 if n_leads else 0):
        pk = leads.filter(pk__gte=f"{rng.getrandbits(128):032x}").order_by("pk")
        found = pk.values_list("pk", flat=True).first()
        if found is not None and str(found) not in picked:
            picked.append(str(found))
        if len(picked) >= samples:
            break
    return {"leads": n_leads, "lead_ids": picked}


def _sample_opportunities(rng: random.Random, samples: int) -> dict:
    """Opportunity and stage-change counts, the biggest pipeline (the board scenarios
    show it: the worst case) and a few live deal ids (inside the big organization)."""
    from django.db.models import Count

    from pulse.opportunities.models import Opportunity, OpportunityStageChange, Pipeline

    deals = Opportunity.objects.filter(deleted_at__isnull=True)
    n_deals = deals.count()
    biggest = (
        Pipeline.objects.filter(deleted_at__isnull=True)
        .annotate(n=Count("opportunities"))
        .order_by("-n", "position")
        .values_list("pk", flat=True)
        .first()
    )
    picked: list[str] = []
    for _ in range(samples * 3 if n_deals else 0):
        found = (
            deals.filter(pk__gte=f"{rng.getrandbits(128):032x}")
            .order_by("pk")
            .values_list("pk", flat=True)
            .first()
        )
        if found is not None and str(found) not in picked:
            picked.append(str(found))
        if len(picked) >= samples:
            break
    return {
        "opportunities": n_deals,
        "stage_changes": OpportunityStageChange.objects.count(),
        "pipeline_id": str(biggest) if biggest else "",
        "opportunity_ids": picked,
    }


def _sample_activities(org, samples: int) -> dict:
    """Activity counts and what the activity scenarios ask for (inside the big
    organization): the busiest contacts and companies (by activities), and the calendar
    weeks around the generated clock's today (the latest activity it wrote down)."""
    from django.db import connection
    from django.db.models import Max

    from pulse.accounts.models import User
    from pulse.activities.models import Activity

    from .generate import CLOCK

    acts = Activity.objects.filter(deleted_at__isnull=True)
    n_acts = acts.count()
    if not n_acts:
        return {"activities": 0}

    def busiest(column: str) -> list[str]:
        # One grouped scan (a few seconds at 5,000,000): no ORM ordering on the count.
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {column}, COUNT(*) FROM activities_activity"
                f" WHERE organization_id = %s AND deleted_at IS NULL AND {column} IS NOT NULL"
                f" GROUP BY {column} ORDER BY 2 DESC LIMIT %s",
                [org.pk if connection.vendor == "postgresql" else org.pk.hex, samples],
            )
            return [(str(uuid.UUID(str(pk))), n) for pk, n in cursor.fetchall()]

    contacts = busiest("contact_id")
    companies = busiest("company_id")
    # The median seller (by activities) beside the busiest: a typical person's week.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT assigned_to_id, COUNT(*) FROM activities_activity WHERE organization_id = %s"
            " AND assigned_to_id IS NOT NULL GROUP BY assigned_to_id ORDER BY 2 DESC",
            [org.pk if connection.vendor == "postgresql" else org.pk.hex],
        )
        busiest_all = cursor.fetchall()
    sellers = [busiest_all[len(busiest_all) // 2][0]] if busiest_all else []
    # The generator's own clock bounds it: the load test's calls, written today, would move
    # the weeks past every generated meeting (an empty calendar measured as "heaviest").
    latest = acts.filter(created_at__lte=CLOCK).aggregate(m=Max("created_at"))["m"] or CLOCK
    monday = (latest - timedelta(days=latest.weekday())).date()
    weeks = [monday - timedelta(weeks=w) for w in range(4)]
    owner = User.objects.get(email=OWNER_EMAIL)
    week_events = acts.filter(
        assigned_to=owner,
        scheduled_at__gte=datetime(monday.year, monday.month, monday.day, tzinfo=UTC),
        scheduled_at__lt=datetime(monday.year, monday.month, monday.day, tzinfo=UTC)
        + timedelta(days=7),
    ).count()
    return {
        "activities": n_acts,
        "busy_contact_ids": [pk for pk, _n in contacts],
        "busy_contact_counts": [n for _pk, n in contacts],
        "busy_company_ids": [pk for pk, _n in companies],
        "calendar_weeks": [w.isoformat() for w in weeks],
        "typical_seller": sellers[0] if sellers else None,
        "owner_week_events": week_events,
    }


def _url(name: str, *args) -> tuple[str, str]:
    """(path, "") for a URL name, or ("", why) while that page is not built yet."""
    from django.urls import NoReverseMatch, reverse

    try:
        return reverse(name, args=args), ""
    except NoReverseMatch:
        return "", f"the URL {name} does not exist yet"


def activity_scenarios(data: dict) -> list[Scenario]:
    """Issue 6: a contact's timeline (first page) and a user's calendar week under 50 ms at
    p95 (PostgreSQL, 5,000,000 activities: ``python -m bench generate --size large`` or
    ``--size small --activities 5000000``). The timeline for the busiest contacts and for
    typical ones; the calendar week of the generated owner, the busiest seller (``?start=
    &end=`` of four weeks up to the generated today). The activity list page and API list
    and a busy company's timeline (its contacts' and deals' activities too) for information.
    A scenario whose URL name does not resolve yet is skipped with a message."""
    n = data.get("activities", 0)
    size = f"{n:,} activities"
    none = "00000000-0000-4000-8000-000000000000"
    out = []

    def timeline(name, ids, kind, record_type="contact"):
        paths, why = [], ""
        for pk in ids or [none]:
            path, why = _url("activities:timeline", record_type, pk)
            paths.append(path)
        out.append(
            Scenario(name, paths, kind, size=size, htmx=True, optional=True, unavailable=why)
        )

    busy = data.get("busy_contact_counts") or [0]
    timeline(
        f"contact timeline: busiest contacts ({min(busy):,}-{max(busy):,} activities)",
        data.get("busy_contact_ids"),
        "timeline",
    )
    timeline("contact timeline: typical contacts", data.get("contact_ids"), "timeline")
    timeline("company timeline: busiest companies", data.get("busy_company_ids"), None, "company")
    events, why = _url("activities:calendar_events")
    weeks = data.get("calendar_weeks") or ["2026-06-01"]
    week_paths = []
    for monday in weeks:
        sunday_night = (datetime.fromisoformat(monday) + timedelta(days=7)).date()
        window = {"start": f"{monday}T00:00:00Z", "end": f"{sunday_night}T00:00:00Z"}
        week_paths.append(f"{events}?{urlencode(window)}")
    out.append(
        Scenario(
            f"calendar week: heaviest owner (~{data.get('owner_week_events', 0):,} events)",
            week_paths,
            "calendar",
            size=size,
            optional=True,
            unavailable=why,
        )
    )
    seller = data.get("typical_seller")
    if seller is not None:
        out.append(
            Scenario(
                "calendar week: typical seller (?user=)",
                [f"{p}&{urlencode({'user': seller})}" for p in week_paths],
                "calendar",
                size=size,
                optional=True,
                unavailable=why,
            )
        )
    listing, why = _url("activities:activity_list")
    out.append(
        Scenario("activity list page", listing, None, size=size, optional=True, unavailable=why)
    )
    out.append(
        Scenario("API activities list", "/api/crm/activities/", None, "token", size, optional=True)
    )
    return out


def _audited_write(data: dict):
    """An audited change in the big organization (a contact's note, as its owner): every
    cached dashboard number of the organization is forgotten, so the next request computes
    all of them from the database, as the first view after someone's edit does."""

    def write(i: int) -> None:
        from pulse.accounts.models import User
        from pulse.contacts.models import Contact
        from pulse.contacts.services import contact_update
        from pulse.core.tenancy import tenant_context

        org = data["org"]
        owner = User.objects.get(email=OWNER_EMAIL)
        with tenant_context(org, actor=owner):
            contact = Contact.objects.get(pk=data["contact_ids"][i % len(data["contact_ids"])])
            # A new note each time: writing the same one again changes nothing, so it
            # is not audited and the cached numbers would stay.
            contact_update(contact=contact, actor=owner, notes=f"bench write {uuid.uuid4()}")

    return write


def report_scenarios(data: dict) -> list[Scenario]:
    """Issue 7: the default dashboard's numbers (``GET /api/crm/dashboard/``, every default
    widget in one request) under 300 ms and each widget under 100 ms at p95 (PostgreSQL,
    1,000,000 contacts, 200,000 leads, 300,000 opportunities, 5,000,000 activities).
    Numbers are cached for a minute per viewer, so after the warm-up most requests are
    served from the cache; the "cold" rows rotate through periods and scopes (each a new
    cache key) to time the queries themselves (a cold row still meets the cache once the
    rotation repeats: set ``--requests`` to at most the number of paths for all-cold)."""
    from pulse.reports.metrics import DEFAULT_LAYOUT, WIDGETS

    size = f"{data.get('opportunities', 0):,} deals, {data.get('activities', 0):,} activities"
    api = "/api/crm/dashboard/"
    cold = [
        (period, scope)
        for period in (
            "this_quarter",
            "last_quarter",
            "this_month",
            "last_month",
            "this_year",
            "last_year",
            "last_7_days",
            "last_30_days",
            "last_90_days",
            "last_365_days",
            "this_week",
            "last_week",
            "yesterday",
            "today",
            "all_time",
        )
        for scope in ("org", "me")
    ]

    def q(**params) -> str:
        return f"{api}?{urlencode(params)}"

    deals = f"{data.get('opportunities', 0):,} deals"
    # Cold rows: each period × scope is a new cache key, and a write before each request
    # makes sure (``python -m bench explain`` makes one request per row).
    forget = _audited_write(data)
    out = [
        Scenario("dashboard page (HTML; widgets load after it)", "/", "dashboard", size=size),
        Scenario(
            "dashboard API: default dashboard just after a write (cache forgotten)",
            api,
            "dashboard",
            "token",
            size,
            optional=True,
            before=forget,
        ),
        Scenario(
            "report: all deals grouped by stage (count, sum)",
            f"/api/crm/reports/{data['report_by_stage']}/run/",
            "report",
            "token",
            deals,
        ),
        Scenario(
            "report: all deals by owner × close month (count, sum)",
            f"/api/crm/reports/{data['report_by_owner_month']}/run/",
            "report",
            "token",
            deals,
        ),
        Scenario(
            "dashboard API: default widgets, org, this quarter (cached)",
            q(period="this_quarter", scope="org"),
            "dashboard",
            "token",
            size,
            optional=True,
        ),
        Scenario(
            "dashboard API: default widgets (cold: periods × scopes)",
            [q(period=p, scope=s) for p, s in cold],
            "dashboard",
            "token",
            size,
            optional=True,
            before=forget,
        ),
    ]
    for kind in [k for k, _w, _p in DEFAULT_LAYOUT] + sorted(
        set(WIDGETS) - {k for k, _w, _p in DEFAULT_LAYOUT}
    ):
        out.append(
            Scenario(
                f"dashboard widget {kind} (cold)",
                [q(widgets=kind, period=p, scope=s) for p, s in cold],
                "widget",
                "token",
                size,
                optional=True,
                before=forget,
            )
        )
    return out


def scenarios(data: dict) -> list[Scenario]:
    def q(path, **params):
        return f"{path}?{urlencode(params)}"

    c = f"{data['contacts']:,} contacts"
    co = f"{data['companies']:,} companies"
    return [
        Scenario("floor: GET /api/crm/me/ (token)", "/api/crm/me/", None, "token", "-"),
        Scenario("contact list page", "/contacts/", "list", size=c),
        Scenario(
            "contact list sorted + filtered",
            [
                q("/contacts/", ordering="-created_at", lifecycle_stage="customer"),
                q("/contacts/", ordering="email", country="DE"),
                q("/contacts/", ordering="company", page="3"),
            ],
            "list",
            size=c,
        ),
        Scenario("contact list page 200", q("/contacts/", page="200"), "list", size=c),
        Scenario(
            "API contacts: a cursor page half-way down the list",
            q("/api/crm/contacts/", cursor=data["deep_cursor"], page_size="50"),
            "list",
            "token",
            c,
        ),
        Scenario(
            "contact search: full name",
            [q("/contacts/", search=n) for n in data["names"]],
            "search",
            size=c,
        ),
        Scenario(
            "contact search: email",
            [q("/contacts/", search=e) for e in data["emails"]],
            "search",
            size=c,
        ),
        Scenario(
            "contact search: phone (national format)",
            [q("/contacts/", search=p) for p in data["phones"]],
            "search",
            size=c,
        ),
        Scenario(
            "contact search: company name word",
            [q("/contacts/", search=w) for w in data["company_words"]],
            "search",
            size=c,
        ),
        Scenario(
            "contact search: common last name (smith)",
            q("/contacts/", search="smith"),
            "search",
            size=c,
        ),
        Scenario(
            "global search: one-letter typo, a contact of the intended name in the first five",
            [f"/search/?q={quote(n)}" for n in data["typo_names"]],
            "global_search",
            size=f"{c}, {co}",
            htmx=True,
            check=lambda i, body: _names_contact(body, data["names"][i]),
        ),
        Scenario(
            "global search as you type (htmx)",
            [f"/search/?q={quote(p)}" for p in data["last_prefixes"]],
            "global_search",
            size=f"{c}, {co}",
            htmx=True,
        ),
        Scenario(
            "global search: full name",
            [f"/search/?q={quote(n)}" for n in data["names"]],
            "global_search",
            size=f"{c}, {co}",
            htmx=True,
        ),
        Scenario(
            "contact detail",
            [f"/contacts/{pk}/" for pk in data["contact_ids"]],
            "detail",
            size=c,
        ),
        Scenario("company list page", "/companies/", None, size=co),
        Scenario(
            "company detail with hierarchy",
            [f"/companies/{pk}/" for pk in data["parent_ids"]] or ["/companies/"],
            None,
            size=co,
        ),
        Scenario("API contacts list", "/api/crm/contacts/", None, "token", c),
        *lead_scenarios(data),
        *opportunity_scenarios(data),
        *activity_scenarios(data),
        *report_scenarios(data),
        Scenario(
            "API contacts search",
            [q("/api/crm/contacts/", search=n) for n in data["names"]],
            "search",
            "token",
            c,
        ),
    ]


def lead_scenarios(data: dict) -> list[Scenario]:
    """Issue 4: the pipeline endpoint under 100 ms and the lead list under 50 ms at p95
    (PostgreSQL, 200,000 leads: ``python -m bench generate --size large``)."""
    size = f"{data.get('leads', 0):,} leads"
    ids = data.get("lead_ids") or []
    return [
        Scenario("lead list page", "/leads/", "lead_list", size=size, optional=True),
        Scenario("lead list: hot band", "/leads/?band=hot", "lead_list", size=size, optional=True),
        Scenario("lead board (kanban)", "/leads/board/", None, size=size, optional=True),
        Scenario("API leads list", "/api/crm/leads/", "lead_list", "token", size, optional=True),
        Scenario(
            "API leads pipeline",
            "/api/crm/leads/pipeline/",
            "pipeline",
            "token",
            size,
            optional=True,
        ),
        Scenario(
            "API leads pipeline: this quarter",
            "/api/crm/leads/pipeline/?date_range=this_quarter",
            "pipeline",
            "token",
            size,
            optional=True,
        ),
        Scenario(
            "lead detail",
            [f"/leads/{pk}/" for pk in ids] or ["/leads/00000000-0000-4000-8000-000000000000/"],
            "detail",
            size=size,
            optional=True,
        ),
    ]


def opportunity_scenarios(data: dict) -> list[Scenario]:
    """Issue 5: the kanban board of one pipeline (first 50 cards per column plus column
    totals) under 100 ms and the forecast for a year by quarter under 150 ms at p95
    (PostgreSQL, 300,000 deals and ~2,000,000 stage changes: ``python -m bench generate
    --size large`` or ``--opportunities 300000``). The list, detail and forecast pages are
    measured for information. Optional: skipped while a page answers 404."""
    deals = data.get("opportunities", 0)
    size = f"{deals:,} opps, {data.get('stage_changes', 0):,} changes"
    pipeline = data.get("pipeline_id") or "00000000-0000-4000-8000-000000000000"
    ids = data.get("opportunity_ids") or ["00000000-0000-4000-8000-000000000000"]
    board = f"?{urlencode({'pipeline': pipeline})}"
    return [
        Scenario(
            "opportunity board (one pipeline)",
            f"/opportunities/board/{board}",
            "opp_board",
            size=size,
            optional=True,
        ),
        Scenario(
            "API opportunity board (one pipeline)",
            f"/api/crm/opportunities/board/{board}",
            "opp_board",
            "token",
            size,
            optional=True,
        ),
        Scenario(
            "API opportunity forecast: year by quarter",
            "/api/crm/opportunities/forecast/?period=quarter",
            "forecast",
            "token",
            size,
            optional=True,
        ),
        Scenario(
            "opportunity forecast page", "/opportunities/forecast/", None, size=size, optional=True
        ),
        Scenario("opportunity list page", "/opportunities/", None, size=size, optional=True),
        Scenario(
            "API opportunities list", "/api/crm/opportunities/", None, "token", size, optional=True
        ),
        Scenario(
            "opportunity detail",
            [f"/opportunities/{pk}/" for pk in ids],
            None,
            size=size,
            optional=True,
        ),
    ]


def missing(port, scenario: Scenario, auth_headers: dict) -> str:
    """Why an optional scenario cannot run yet ("" when its first page answers)."""
    if not scenario.optional:
        return ""
    path = scenario.path[0] if isinstance(scenario.path, list) else scenario.path
    status, _, _ = request(port, "GET", path, headers=dict(auth_headers[scenario.auth]))
    if status == 404:
        return f"{path} answers 404 (not built yet, or no generated data for it)"
    return ""


def run_import_benchmark(rows: int, vendor: str) -> Result | None:
    """H4's import benchmark (bench/bench_import.py: run(rows) -> dict), when present."""
    try:
        from . import bench_import
    except ImportError:
        return None
    started = time.perf_counter()
    outcome = bench_import.run(rows) or {}
    seconds = float(outcome.get("seconds", time.perf_counter() - started))
    target = TARGETS[vendor]["import"]
    return Result(
        operation="import CSV (dedupe on)",
        data_size=f"{rows:,} rows",
        requests=1,
        p50_ms=round(seconds * 1000, 1),
        p95_ms=round(seconds * 1000, 1),
        client_p95_ms=round((time.perf_counter() - started) * 1000, 1),
        queries=None,
        target_ms=target,
        passed=None if target is None else seconds * 1000 < target,
        extra={k: v for k, v in outcome.items() if isinstance(v, int | float | str)},
    )


def run_reminder_benchmark(count: int, vendor: str) -> Result:
    """Issue 6: the reminder task sends 10,000 due reminders in under 30 s
    (``bench/reminders.py``: a scratch organization, one run of the task, every reminder
    sent exactly once or the row fails)."""
    from . import reminders

    outcome = reminders.run(count)
    target = TARGETS[vendor]["reminders"]
    seconds = float(outcome["seconds"])
    return Result(
        operation="reminder task: due reminders sent (email + in-app)",
        data_size=f"{outcome['reminders']:,} reminders",
        requests=1,
        p50_ms=round(seconds * 1000, 1),
        p95_ms=round(seconds * 1000, 1),
        client_p95_ms=round(seconds * 1000, 1),
        queries=None,
        target_ms=target,
        passed=None if target is None else bool(outcome["pass"]),
        errors=0 if outcome["pass"] else 1,
        extra={k: v for k, v in outcome.items() if isinstance(v, int | float | str)},
    )


# --- output --------------------------------------------------------------------------------


def print_table(results: list[Result], vendor: str) -> None:
    headers = ["operation", "data size", "p50 ms", "p95 ms", "q/req", "target", "x floor", "ok"]
    rows = []
    for r in results:
        rows.append(
            [
                r.operation,
                r.data_size,
                f"{r.p50_ms:.1f}",
                f"{r.p95_ms:.1f}",
                "-" if r.queries is None else f"{r.queries:.0f}",
                "-" if r.target_ms is None else f"< {r.target_ms:g}",
                "-" if r.floor_ratio is None else f"{r.floor_ratio:.1f}",
                "-" if r.passed is None else ("PASS" if r.passed else "FAIL"),
            ]
        )
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    print(f"\nPulseCRM benchmarks on {vendor} (server time from Server-Timing)\n")
    print(line)
    print("-" * len(line))
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))


# Issue 8's targets that are runs of their own, not requests: the newest saved run of each
# is shown under the table (``python -m bench generate``, ``python -m bench.load``).
GENERATE_TARGET_S = 20 * 60
LOAD_P95_TARGET_MS = 300


def _newest(kind: str, vendor: str, wanted=lambda run: True) -> dict | None:
    for path in sorted(RESULTS_DIR.glob(f"{kind}-*.json"), reverse=True):
        try:
            run = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if run.get("vendor") == vendor and wanted(run):
            return run
    return None


def recorded_runs(vendor: str) -> list[dict]:
    """The newest generator and load-test runs on this database, against their targets."""
    rows = []
    made = _newest("generate", vendor)
    if made is None:
        rows.append({"operation": "generate --size large", "figure": "no saved run"})
    else:
        rows_total = sum(made.get("rows", {}).values())
        rows.append(
            {
                "operation": f"generate --size {made['size']} ({rows_total:,} rows)",
                "when": made["at"],
                "figure": f"{made['seconds'] / 60:.1f} min",
                "target": "20 min",
                "passed": made["seconds"] < GENERATE_TARGET_S if made["size"] == "large" else None,
            }
        )
    # The run issue 8 names (100 users, 5 minutes) when there is one: a quick look with
    # fewer users or minutes does not stand in for it.
    load = _newest(
        "load", vendor, lambda run: run.get("users", 0) >= 100 and run.get("minutes", 0) >= 5
    ) or _newest("load", vendor)
    if load is None:
        rows.append({"operation": "load test", "figure": "no saved run (make loadtest)"})
    else:
        total = load.get("total") or {}
        worst = max(load.get("requests", []), key=lambda r: r["p95_ms"], default=None)
        figure = (
            f"p95 {total.get('p95_ms', 0):.0f} ms, {total.get('errors', 0)} errors,"
            f" {total.get('rps', 0):.1f} req/s"
        )
        if worst:
            figure += f"; slowest {worst['name']} p95 {worst['p95_ms']:.0f} ms"
        rows.append(
            {
                "operation": f"load test: {load['users']} users, {load['minutes']:g} min",
                "when": load["at"],
                "figure": figure,
                "target": f"0 errors, every p95 < {LOAD_P95_TARGET_MS} ms",
                "passed": all(
                    r["errors"] == 0 and r["p95_ms"] < LOAD_P95_TARGET_MS
                    for r in load.get("requests", [])
                )
                and bool(load.get("requests")),
            }
        )
    return rows


def print_recorded(rows: list[dict]) -> None:
    print("\nRecorded runs (newest in bench/results/)\n")
    for row in rows:
        verdict = {True: "PASS", False: "FAIL", None: "-"}[row.get("passed")]
        when = f" [{row['when']}]" if row.get("when") else ""
        target = f" (target {row['target']})" if row.get("target") else ""
        print(f"  {row['operation']}{when}: {row['figure']}{target}  {verdict}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--requests", type=int, default=40, help="timed requests per scenario")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--samples", type=int, default=10, help="sample records per scenario")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--only", default="", help="run scenarios whose name contains this (or one of a,b,c)"
    )
    parser.add_argument("--import-rows", type=int, default=100_000)
    parser.add_argument("--skip-import", action="store_true")
    parser.add_argument("--reminders", type=int, default=10_000, help="due reminders to send")
    parser.add_argument("--skip-reminders", action="store_true")
    args = parser.parse_args(argv)

    setup_django()
    from django.db import connection

    from pulse.accounts.models import User
    from pulse.accounts.services import api_token_create, api_token_revoke

    vendor = connection.vendor
    data = sample_data(args.seed, args.samples)
    owner = User.objects.get(email=OWNER_EMAIL)
    token, raw_key = api_token_create(user=owner, org=data["org"], name="bench")
    connection.close()  # gunicorn's workers have the database to themselves
    server = Server(workers=args.workers)
    results: list[Result] = []
    try:
        auth = {
            "session": {"Cookie": login(server.port)},
            "token": {"Authorization": f"Token {raw_key}"},
        }
        for scenario in scenarios(data):
            if (
                args.only
                and not any(part in scenario.name for part in args.only.split(","))
                and not scenario.name.startswith("floor")
            ):
                continue
            why = scenario.unavailable or missing(server.port, scenario, auth)
            if why:
                print(f"  skipped {scenario.name}: {why}", file=sys.stderr)
                continue
            server_ms, client_ms, queries, errors = time_scenario(
                server.port, scenario, auth, args.requests, args.warmup
            )
            target = TARGETS[vendor].get(scenario.kind) if scenario.kind else None
            p95 = percentile(server_ms, 95)
            results.append(
                Result(
                    operation=scenario.name,
                    data_size=scenario.size,
                    requests=len(server_ms),
                    p50_ms=round(percentile(server_ms, 50), 1),
                    p95_ms=round(p95, 1),
                    client_p95_ms=round(percentile(client_ms, 95), 1),
                    queries=statistics.mean(queries) if queries else None,
                    target_ms=target,
                    passed=None if target is None else (p95 < target and errors == 0),
                    errors=errors,
                )
            )
            print(f"  {scenario.name}: p95 {p95:.1f} ms", file=sys.stderr)
    finally:
        server.stop()
        api_token_revoke(token=token, actor=owner)
    floor = results[0].p95_ms if results and results[0].operation.startswith("floor") else None
    for r in results:
        if floor:
            r.floor_ratio = round(r.p95_ms / floor, 1)
    if not args.skip_import and vendor == "postgresql" and (not args.only or "import" in args.only):
        imported = run_import_benchmark(args.import_rows, vendor)
        if imported is not None:
            results.append(imported)
    if not args.skip_reminders and (not args.only or "reminder" in args.only):
        results.append(run_reminder_benchmark(args.reminders, vendor))
    print_table(results, vendor)
    recorded = recorded_runs(vendor)
    print_recorded(recorded)
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS_DIR / f"{stamp}.json"
    out.write_text(
        json.dumps(
            {
                "when": stamp,
                "database": vendor,
                "contacts": data["contacts"],
                "companies": data["companies"],
                "opportunities": data.get("opportunities", 0),
                "activities": data.get("activities", 0),
                "requests": args.requests,
                "workers": args.workers,
                "results": [asdict(r) for r in results],
                "recorded": recorded,
            },
            indent=2,
        )
    )
    print(f"\nwritten to {out.relative_to(ROOT)}")
    failed = [r for r in results if r.passed is False]
    return 1 if failed else 0
