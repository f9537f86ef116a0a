"""Import benchmark: a realistic contacts CSV through the real import engine.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/h4bench .venv/bin/python manage.py migrate
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/h4bench \\
        .venv/bin/python bench/bench_import.py --rows 100000

Generates a CSV (HubSpot-style columns; about 5 % of rows repeat an earlier email or
phone, 1 % have a broken email), uploads it through ``import_upload`` (stored under
MEDIA_ROOT, analysed, mapping guessed), then times the task body (``run_job``) in
"skip duplicates" mode -- dedupe, validation, bulk writes, change log and undo records
included -- and prints rows/s and total seconds. ``run(rows) -> dict`` is what the
benchmark suite (``python -m bench``) calls. The organization it creates is removed
afterwards unless ``--keep``.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import sys
import tempfile
import time
from pathlib import Path

FIRST = [
    "Ada", "Grace", "Alan", "Katherine", "Maria", "Ivan", "Petar", "Elena", "John", "Mary",
    "James", "Linda", "Robert", "Patricia", "Michael", "Jennifer", "David", "Susan", "Georgi",
    "Nikolay", "Dimitar", "Yana", "Sofia", "Lucas", "Emma", "Noah", "Olivia", "Liam", "Mia",
]  # fmt: skip
LAST = [
    "Lovelace", "Hopper", "Turing", "Johnson", "Ivanova", "Petrov", "Georgiev", "Smith",
    "Brown", "Garcia", "Miller", "Davis", "Martinez", "Lopez", "Wilson", "Anderson", "Taylor",
    "Thomas", "Moore", "Jackson", "Martin", "Lee", "Dimitrov", "Nikolova", "Stoyanov", "Kolev",
]  # fmt: skip
# Surnames are built from syllables: a real list has thousands of distinct names.
SYLLABLES = ["an", "ber", "cko", "dov", "el", "fin", "gar", "hol", "in", "jak", "kov", "lin",
             "mar", "nes", "ov", "pet", "ros", "sky", "ton", "vic", "wen", "zan"]  # fmt: skip
TITLES = ["CEO", "CTO", "Sales Manager", "Engineer", "Buyer", "Office Manager", "Analyst", ""]
STAGES = ["lead", "customer", "opportunity", "subscriber", "Marketing Qualified Lead", ""]
COUNTRIES = ["Bulgaria", "United States", "DE", "United Kingdom", "France", ""]
HEADER = [
    "First Name", "Last Name", "Email", "Phone Number", "Company Name", "Job Title",
    "City", "Country/Region", "Lifecycle Stage", "Tags",
]  # fmt: skip


def generate(path: Path, rows: int, *, seed: int = 7, duplicates: float = 0.05) -> dict:
    """Write the CSV; returns how many rows repeat an earlier one or are broken."""
    rng = random.Random(seed)
    companies = [f"Company {n} Ltd" for n in range(max(10, rows // 20))]
    seen: list[tuple[str, str, str, str, int]] = []
    repeated = broken = 0
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        for n in range(rows):
            roll = rng.random()
            if seen and roll < duplicates:
                first, last, email, phone, company = rng.choice(seen)
                email = email.upper() if rng.random() < 0.5 else email
                repeated += 1
            else:
                first = rng.choice(FIRST)
                last = rng.choice(LAST) + "".join(rng.choice(SYLLABLES) for _ in range(2))
                company = rng.randrange(len(companies))
                domain = f"company{company}.example" if rng.random() < 0.8 else "gmail.com"
                email = f"{first}.{last}.{n}@{domain}".lower()
                phone = f"+3592{n:07d}" if rng.random() < 0.7 else ""
                if roll > 0.99:
                    email = f"{first} at example.com"
                    broken += 1
                if len(seen) < 50_000:
                    seen.append((first, last, email, phone, company))
            writer.writerow(
                [
                    first,
                    last,
                    email,
                    phone,
                    companies[company],
                    rng.choice(TITLES),
                    rng.choice(["Sofia", "Plovdiv", "Berlin", "London", "Austin"]),
                    rng.choice(COUNTRIES),
                    rng.choice(STAGES),
                    rng.choice(["", "", "vip", "newsletter;partner", "trade show 2026"]),
                ]
            )
    return {"repeated_rows": repeated, "broken_rows": broken}


def _cleanup(org, user) -> None:
    """Delete the benchmark organization's rows with plain SQL (no per-row signals)."""
    from django.db import connection, transaction

    from pulse.accounts.models import Membership, Organization, User
    from pulse.audit.models import AuditEntry
    from pulse.contacts.models import Company, Contact
    from pulse.extras.models import Notification, Tag
    from pulse.imports.models import ImportJob, ImportMapping, ImportRecord

    org_id = org.pk
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {User._meta.db_table} SET last_organization_id = NULL "  # noqa: S608
            "WHERE id = %s",
            [user.pk],
        )
        for through in (Contact.tags.through, Company.tags.through):
            owner_column = through._meta.get_field(
                Contact.tags.field.m2m_field_name()
                if through is Contact.tags.through
                else Company.tags.field.m2m_field_name()
            ).column
            owner_table = (Contact if through is Contact.tags.through else Company)._meta.db_table
            cursor.execute(
                f"DELETE FROM {through._meta.db_table} WHERE {owner_column} IN "  # noqa: S608
                f"(SELECT id FROM {owner_table} WHERE organization_id = %s)",
                [org_id],
            )
        for model in (
            ImportRecord,
            ImportJob,
            ImportMapping,
            AuditEntry,
            Contact,
            Company,
            Tag,
            Notification,
            Membership,
        ):
            cursor.execute(
                f"DELETE FROM {model._meta.db_table} WHERE organization_id = %s",  # noqa: S608
                [org_id],
            )
        cursor.execute(
            f"DELETE FROM {Organization._meta.db_table} WHERE id = %s",  # noqa: S608
            [org_id],
        )
        cursor.execute(f"DELETE FROM {User._meta.db_table} WHERE id = %s", [user.pk])  # noqa: S608


def run(rows: int = 100_000, *, keep: bool = False, seed: int = 7) -> dict:
    """Generate ``rows`` contacts as CSV and import them; returns the figures."""
    import shutil
    import uuid

    from django.core.files import File
    from django.core.files.storage import default_storage
    from django.db import connection

    from pulse.accounts.models import User
    from pulse.accounts.services import organization_create
    from pulse.core.tenancy import tenant_context
    from pulse.imports.engine import run_job
    from pulse.imports.models import ImportJob
    from pulse.imports.services import import_set_mapping, import_upload

    stamp = uuid.uuid4().hex[:8]
    user = User.objects.create_user(f"bench-import-{stamp}@example.com", None, full_name="Bench")
    org = organization_create(actor=user, name=f"Import bench {stamp}")
    org.country = "BG"
    org.save(update_fields=["country"])
    workdir = Path(tempfile.mkdtemp(prefix="bench-import-"))
    try:
        path = workdir / "contacts.csv"
        started = time.perf_counter()
        shape = generate(path, rows, seed=seed)
        generated = time.perf_counter() - started
        with tenant_context(org, actor=user, source="import"):
            started = time.perf_counter()
            with open(path, "rb") as handle:
                job = import_upload(
                    org=org, actor=user, target="contacts", file=File(handle, name="contacts.csv")
                )
            job = import_set_mapping(job=job, actor=user, mapping=job.mapping, mode="skip")
            uploaded = time.perf_counter() - started
            ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.QUEUED)
            started = time.perf_counter()
            job = run_job(job_id=job.pk, actor=user)
            seconds = time.perf_counter() - started
        result = {
            "rows": rows,
            "seconds": round(seconds, 2),
            "rows_per_s": round(rows / seconds) if seconds else 0,
            "upload_and_analyse_seconds": round(uploaded, 2),
            "generate_seconds": round(generated, 2),
            "status": job.status,
            "created": job.created_count,
            "skipped_as_duplicates": job.skipped_count,
            "failed": job.failed_count,
            "file_mb": round(path.stat().st_size / 1024 / 1024, 1),
            "vendor": connection.vendor,
            **shape,
        }
        folder = f"imports/{org.pk}"
        if not keep:
            _cleanup(org, user)
            location = default_storage.path(folder)
            shutil.rmtree(location, ignore_errors=True)
        return result
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the imported organization")
    args = parser.parse_args(argv)
    root = Path(__file__).resolve().parent.parent
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pulse.settings")
    import django

    django.setup()
    result = run(args.rows, keep=args.keep, seed=args.seed)
    width = max(len(k) for k in result)
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")
    print(f"\n{result['rows']:,} rows in {result['seconds']} s = {result['rows_per_s']:,} rows/s")
    return 0 if result["status"] == "done" else 1


if __name__ == "__main__":
    sys.exit(main())
