"""Reminder task benchmark: 10,000 due reminders through ``activities.reminders_send_due``.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/h4bench .venv/bin/python manage.py migrate
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/h4bench .venv/bin/python -m bench.reminders

Creates a scratch organization with a few members and 2,500 meetings (with a contact
each), four due reminders per meeting (at the time, 15 min, 1 hour, 1 day before), then
times one run of the task body as the beat would start it: claim in batches, skip
checks, one email each (Django's locmem backend, so the figure is ours, not an SMTP
server's), one in-app notification each with its change-log line, ``sent_at``. Prints
reminders/s and total seconds (target: 10,000 in under 30 s on PostgreSQL) and checks
that every reminder was sent exactly once. ``run(reminders) -> dict`` is the function a
suite can call. The organization is removed afterwards unless ``--keep``.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
import uuid

OFFSETS = (0, 15, 60, 1440)


def _setup(reminders: int):
    from django.utils import timezone

    from pulse.accounts.models import Membership, Organization, Role, User
    from pulse.activities.models import Activity, ActivityReminder
    from pulse.contacts.models import Contact

    tag = uuid.uuid4().hex[:8]
    org = Organization.objects.create(name=f"Reminder bench {tag}", slug=f"reminder-bench-{tag}")
    users = []
    for n in range(5):
        user = User.objects.create_user(
            f"bench-{tag}-{n}@example.com", full_name=f"Bench User {n}", password=None
        )
        Membership.objects.unscoped().create(organization=org, user=user, role=Role.SALES_REP)
        users.append(user)
    meetings = -(-reminders // len(OFFSETS))
    contacts = Contact.objects.unscoped().bulk_create(
        Contact(organization=org, first_name="Ada", last_name=f"Lovelace {n}")
        for n in range(meetings)
    )
    start = timezone.now() + datetime.timedelta(minutes=5)
    activities = Activity.objects.unscoped().bulk_create(
        Activity(
            organization=org,
            type="meeting",
            subject=f"Meeting {n}",
            scheduled_at=start,
            occurred_at=start,
            duration_minutes=30,
            assigned_to=users[n % len(users)],
            contact=contacts[n],
        )
        for n in range(meetings)
    )
    due = timezone.now() - datetime.timedelta(seconds=1)
    rows = [
        ActivityReminder(
            organization=org,
            activity=activity,
            recipient_id=activity.assigned_to_id,
            offset_minutes=offset,
            remind_at=due,
        )
        for activity in activities
        for offset in OFFSETS
    ][:reminders]
    ActivityReminder.objects.unscoped().bulk_create(rows, batch_size=2000)
    return org, len(rows)


def _cleanup(org) -> None:
    """Delete the scratch organization's rows with plain SQL (no per-row signals, which
    would log each purge into the organization being deleted)."""
    from django.db import connection, transaction

    from pulse.accounts.models import Membership, Organization, User
    from pulse.activities.models import Activity, ActivityReminder
    from pulse.audit.models import AuditEntry
    from pulse.contacts.models import Contact
    from pulse.extras.models import Notification

    user_ids = list(
        Membership.objects.unscoped().filter(organization=org).values_list("user_id", flat=True)
    )
    with transaction.atomic(), connection.cursor() as cursor:
        for model in (
            Notification,
            AuditEntry,
            ActivityReminder,
            Activity,
            Contact,
            Membership,
        ):
            cursor.execute(
                f"DELETE FROM {model._meta.db_table} WHERE organization_id = %s",  # noqa: S608
                [org.pk],
            )
        cursor.execute(
            f"DELETE FROM {Organization._meta.db_table} WHERE id = %s",  # noqa: S608
            [org.pk],
        )
        if user_ids:
            placeholders = ", ".join(["%s"] * len(user_ids))
            cursor.execute(
                f"DELETE FROM {User._meta.db_table} WHERE id IN ({placeholders})",  # noqa: S608
                user_ids,
            )


def run(reminders: int = 10_000, *, keep: bool = False) -> dict:
    """Create ``reminders`` due reminders, run the task once, return the figures."""
    from django.conf import settings
    from django.core import mail
    from django.db import connection

    from pulse.activities.models import ActivityReminder
    from pulse.activities.tasks import reminders_send_due
    from pulse.extras.models import Notification

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    mail.outbox = []
    org, total = _setup(reminders)
    try:
        began = time.perf_counter()
        totals = reminders_send_due()
        seconds = time.perf_counter() - began
        unsent = ActivityReminder.objects.unscoped().filter(organization=org, sent_at__isnull=True)
        notified = Notification.objects.unscoped().filter(organization=org).count()
        result = {
            "database": connection.vendor,
            "reminders": total,
            "seconds": round(seconds, 2),
            "per_second": round(total / seconds, 1) if seconds else None,
            "sent": totals["sent"],
            "skipped": totals["skipped"],
            "failed": totals["failed"],
            "batches": totals["batches"],
            "emails": len(mail.outbox),
            "notifications": notified,
            "unsent_left": unsent.count(),
            "target_seconds": 30,
        }
        result["pass"] = (
            seconds < 30
            and result["emails"] == total
            and result["notifications"] == total
            and result["unsent_left"] == 0
        )
        return result
    finally:
        mail.outbox = []
        if not keep:
            _cleanup(org)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reminders", type=int, default=10_000)
    parser.add_argument("--keep", action="store_true", help="keep the scratch organization")
    args = parser.parse_args(argv)
    from . import setup_django

    setup_django()
    result = run(args.reminders, keep=args.keep)
    width = max(len(k) for k in result)
    for key, value in result.items():
        print(f"{key.ljust(width)}  {value}")
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
