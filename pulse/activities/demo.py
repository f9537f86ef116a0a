"""Demo activities for ``manage.py seed_demo``: a newcomer's first screens are alive.

For Northwind's contacts, companies, leads and deals: past calls with their outcomes,
emails (from and to filled), notes (a few mentioning a colleague), meetings done earlier
and coming this week and next (with users and contacts attending, and reminders), tasks
(some overdue, some due today, some with checklists), follow-up chains (a call whose
completion scheduled a meeting, whose completion scheduled a task) and the activity
templates.

``seed`` runs inside ``tenant_context(org, actor=owner, source="system")``. Everything is
made through the services (so it validates, ``occurred_at`` and the deals' last activity
follow, and the change log is real); afterwards the past ones get their creation date
moved back with a queryset ``update()``: demo staging, not anyone's change. A few hundred
activities: about two seconds on SQLite.
"""

from __future__ import annotations

import datetime
import zoneinfo

# (subject, share) per type, drawn for the past activities.
CALL_SUBJECTS = (
    "Discovery call",
    "Follow-up call",
    "Check-in",
    "Pricing discussion",
    "Renewal call",
    "Support escalation",
)
CALL_OUTCOMES = (("connected", 50), ("voicemail", 22), ("no_answer", 20), ("busy", 8))
CALL_NOTES = (
    "Interested in the premium tier; wants numbers for 25 seats.",
    "Asked for a reference customer in logistics.",
    "Budget is approved for Q3, decision by the end of the month.",
    "Happy with support; renewal looks safe.",
    "",
    "",
)
EMAIL_SUBJECTS = (
    "Proposal for your team",
    "Re: pricing question",
    "Intro and next steps",
    "Contract draft attached",
    "Recap of our meeting",
    "Re: onboarding questions",
)
NOTES = (
    "Prefers email over calls. Best reached in the morning.",
    "Uses a spreadsheet today; main pain is the weekly pipeline report.",
    "Their fiscal year starts in April: budget talks in February.",
    "Met at the Sofia logistics expo; wants a demo for the warehouse team.",
    "Champion moved to the Munich office, new contact is the IT manager.",
    "Asked us not to call on Fridays.",
)
# Notes that bring in a colleague: "{who}" is the mention of a demo user.
MENTION_NOTES = (
    "{who} can you prepare the technical sheet before Thursday?",
    "Discussed the data migration; {who} please check the ERP export format.",
    "{who} they asked for a discount above my limit, can you approve?",
)
MEETING_SUBJECTS = (
    "Product demo",
    "Quarterly business review",
    "Kick-off meeting",
    "Technical deep dive",
    "Contract negotiation",
    "Onboarding workshop",
)
ROOMS = ("Meeting room Vitosha", "Meeting room Rila", "Customer office", "")
TASK_SUBJECTS = (
    "Send proposal",
    "Prepare the quote",
    "Update the account plan",
    "Send the case study",
    "Book the onsite visit",
    "Review the contract",
)
CHECKLISTS = {
    "Prepare the quote": ("Check the seat count", "Apply the partner discount", "Manager sign-off"),
    "Book the onsite visit": ("Agree the date", "Book travel", "Send the agenda"),
    "Review the contract": ("Legal review", "Payment terms", "Data processing annex"),
}


def seed(org, users, rng) -> None:
    """Everything the activity screens show, for the demo organization."""
    demo = _Demo(org, users, rng)
    demo.templates()
    demo.contact_history()
    demo.lead_history()
    demo.deal_history()
    demo.meetings()
    demo.tasks()
    demo.follow_up_chains()
    demo.backdate()


class _Demo:
    def __init__(self, org, users, rng):
        from django.utils import timezone

        from pulse.contacts.models import Contact

        self.org, self.users, self.rng = org, users, rng
        self.owner = users["owner"]
        self.sellers = [users["rep1"]] * 3 + [users["rep2"]] * 3 + [users["manager"], self.owner]
        self.tz = zoneinfo.ZoneInfo(org.time_zone or "UTC")
        self.now = timezone.now()
        self.today = self.now.astimezone(self.tz).date()
        self.contacts = list(
            Contact.objects.filter(deleted_at__isnull=True).select_related("company").order_by("pk")
        )
        # Activities whose creation date moves back to when they happened: (id, when).
        self.dated: list[tuple] = []

    # --- helpers ---------------------------------------------------------------------------

    def _create(self, actor, **fields):
        from .services import activity_create

        return activity_create(org=self.org, actor=actor, **fields)

    def _past(self, days_back: float) -> datetime.datetime:
        """A working-hours moment ``days_back`` days ago (never in the future)."""
        day = self.now.astimezone(self.tz) - datetime.timedelta(days=days_back)
        moment = day.replace(
            hour=self.rng.randint(9, 17), minute=self.rng.choice((0, 10, 20, 30, 40, 50))
        )
        return min(moment, self.now - datetime.timedelta(minutes=5))

    def _at(self, day: datetime.date, hour: int, minute: int = 0) -> datetime.datetime:
        return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=self.tz)

    def _weighted(self, pairs):
        return self.rng.choices([v for v, _w in pairs], [w for _v, w in pairs])[0]

    def _seller_of(self, record):
        return getattr(record, "assigned_to", None) or self.rng.choice(self.sellers)

    def _mention(self, user) -> str:
        """A mention as the autocomplete writes it (``@[Full Name](id)``)."""
        from .services import mention_text

        return mention_text(user)

    def _log_call(self, when, actor, **links):
        outcome = self._weighted(CALL_OUTCOMES)
        connected = outcome == "connected"
        duration = self.rng.randint(5, 35) if connected else 1
        return self._create(
            actor,
            type="call",
            subject=self.rng.choice(CALL_SUBJECTS),
            status="completed",
            completed_at=when,
            call_direction="outbound" if self.rng.random() < 0.75 else "inbound",
            call_outcome=outcome,
            duration_minutes=duration,
            notes=self.rng.choice(CALL_NOTES) if connected else "",
            **links,
        )

    def _log_email(self, when, actor, email: str, **links):
        inbound = self.rng.random() < 0.4
        ours, theirs = actor.email, email or "info@customer.example"
        subject = self.rng.choice(EMAIL_SUBJECTS)
        thread = f"<{self.rng.getrandbits(64):016x}@pulsecrm.local>"
        return self._create(
            actor,
            type="email",
            subject=subject,
            status="completed",
            completed_at=when,
            email_from=theirs if inbound else ours,
            email_to=ours if inbound else theirs,
            message_id=thread,
            thread_id=thread,
            description=f"<p>{subject}. Best regards.</p>",
            **links,
        )

    def _log_note(self, when, actor, text: str, **links):
        return self._create(
            actor,
            type="note",
            subject=text[:60].rstrip(" ,.") + ("…" if len(text) > 60 else ""),
            status="completed",
            completed_at=when,
            description=f"<p>{text}</p>",
            **links,
        )

    # --- templates -------------------------------------------------------------------------

    def templates(self) -> None:
        from .services import activitytemplate_ensure_defaults

        activitytemplate_ensure_defaults(org=self.org, actor=self.owner)

    # --- the past: calls, emails, notes -----------------------------------------------------

    def contact_history(self) -> None:
        """About 140 contacts with a few past calls, emails and notes each (a handful of
        busy ones with a dozen), spread over the last six months."""
        rng = self.rng
        chosen = rng.sample(self.contacts, min(len(self.contacts), 140))
        colleagues = [self.users["manager"], self.users["admin"], self.users["support"]]
        for i, contact in enumerate(chosen):
            actor = self._seller_of(contact)
            count = rng.randint(8, 14) if i < 6 else rng.randint(1, 4)
            for _n in range(count):
                when = self._past(rng.triangular(0.2, 180, 0.2))
                kind = self._weighted((("call", 45), ("email", 35), ("note", 20)))
                if kind == "call":
                    activity = self._log_call(when, actor, contact=contact)
                elif kind == "email":
                    activity = self._log_email(when, actor, contact.email, contact=contact)
                else:
                    text = rng.choice(NOTES)
                    if rng.random() < 0.15:
                        text = rng.choice(MENTION_NOTES).format(
                            who=self._mention(rng.choice(colleagues))
                        )
                    activity = self._log_note(when, actor, text, contact=contact)
                self.dated.append((activity.pk, when))

    def lead_history(self) -> None:
        """First touches on about 25 open leads: a call or an email, sometimes both."""
        from pulse.leads.models import Lead

        rng = self.rng
        leads = list(
            Lead.objects.filter(deleted_at__isnull=True, converted_at__isnull=True).order_by("pk")
        )
        for lead in rng.sample(leads, min(len(leads), 25)):
            actor = self._seller_of(lead)
            for _n in range(rng.randint(1, 2)):
                when = self._past(rng.uniform(0.2, 30))
                if rng.random() < 0.5:
                    activity = self._log_call(when, actor, lead=lead)
                else:
                    activity = self._log_email(when, actor, lead.email, lead=lead)
                self.dated.append((activity.pk, when))

    def deal_history(self) -> None:
        """Calls, emails and a meeting on about 50 deals, dated between the deal's
        creation and its last activity (so the services' touch keeps the deals'
        last-activity dates, rotting ones included)."""
        from pulse.opportunities.models import Opportunity

        rng = self.rng
        deals = list(
            Opportunity.objects.filter(deleted_at__isnull=True, contact__isnull=False)
            .select_related("contact")
            .order_by("pk")
        )
        for deal in rng.sample(deals, min(len(deals), 50)):
            actor = self._seller_of(deal)
            start, end = deal.created_at, min(deal.last_activity_at or self.now, self.now)
            if end <= start:
                continue
            moments = sorted(
                start + (end - start) * rng.uniform(0.05, 0.95) for _ in range(rng.randint(1, 3))
            )
            moments[-1] = end
            links = {"opportunity": deal, "contact": deal.contact}
            for when in moments:
                kind = self._weighted((("call", 45), ("email", 40), ("meeting", 15)))
                if kind == "call":
                    activity = self._log_call(when, actor, **links)
                elif kind == "email":
                    activity = self._log_email(when, actor, deal.contact.email, **links)
                else:
                    activity = self._create(
                        actor,
                        type="meeting",
                        subject=rng.choice(MEETING_SUBJECTS),
                        scheduled_at=when - datetime.timedelta(minutes=60),
                        duration_minutes=60,
                        location=rng.choice(ROOMS),
                        status="completed",
                        completed_at=when,
                        notes="<p>Walked through the proposal; next step agreed.</p>",
                        **links,
                    )
                self.dated.append((activity.pk, when))

    # --- meetings: earlier this week, this week and next -----------------------------------

    def meetings(self) -> None:
        """Meetings from last Monday to the end of next week: the done ones completed
        with notes, the coming ones pending with attendees (a colleague and one to three
        of the contact's colleagues) and reminders 15 minutes and a day before."""
        from datetime import timedelta

        rng = self.rng
        monday = self.today - timedelta(days=self.today.weekday())
        with_company = [c for c in self.contacts if c.company_id]
        by_company: dict = {}
        for contact in with_company:
            by_company.setdefault(contact.company_id, []).append(contact)
        slots = [
            (monday + timedelta(days=d), hour)
            for d in list(range(5)) + list(range(7, 12))
            for hour in (10, 14, 16)
        ]
        for day, hour in rng.sample(slots, 20):
            contact = rng.choice(with_company)
            actor = rng.choice(self.sellers)
            start = self._at(day, hour, rng.choice((0, 30)))
            minutes = rng.choice((30, 45, 60, 60, 90))
            done = start + timedelta(minutes=minutes) < self.now
            video = rng.random() < 0.5
            meeting = self._create(
                actor,
                type="meeting",
                subject=f"{rng.choice(MEETING_SUBJECTS)}: {contact.company.name}",
                scheduled_at=start,
                duration_minutes=minutes,
                location="" if video else rng.choice(ROOMS[:3]),
                video_url=f"https://meet.example.com/{rng.getrandbits(40):010x}" if video else "",
                description="<p>Agenda: where they are, what they need, next steps.</p>",
                contact=contact,
                **(
                    {
                        "status": "completed",
                        "completed_at": start + timedelta(minutes=minutes),
                        "notes": "<p>Good session. They want a proposal by Friday.</p>",
                    }
                    if done
                    else {}
                ),
            )
            colleague = rng.choice([u for u in self.sellers if u.pk != actor.pk])
            others = [c for c in by_company[contact.company_id] if c.pk != contact.pk]
            guests = [contact] + rng.sample(others, min(len(others), rng.randint(0, 2)))
            self._attend(meeting, actor, user=actor, response="accepted")
            self._attend(meeting, actor, user=colleague)
            for guest in guests:
                self._attend(
                    meeting,
                    actor,
                    contact=guest,
                    response=rng.choice(("accepted", "accepted", "tentative", "needs_action")),
                )
            if not done:
                self._remind(meeting, actor, [15, 1440])

    def _attend(self, meeting, actor, *, response: str = "needs_action", **person) -> None:
        """Add a user or a contact to a meeting (no invitation mail: demo people)."""
        from .services import attendee_add, attendee_respond

        attendee = attendee_add(activity=meeting, actor=actor, **person)
        if response != "needs_action":
            attendee_respond(attendee=attendee, response=response, actor=actor)

    def _remind(self, activity, actor, offsets) -> None:
        from .services import activity_set_reminders

        activity_set_reminders(activity=activity, offsets=offsets, actor=actor)

    # --- tasks ------------------------------------------------------------------------------

    def tasks(self) -> None:
        """About 45 tasks: done ones in the past, overdue ones, some due today, the rest
        in the next two weeks; a few with checklists (partly ticked)."""
        from datetime import timedelta

        rng = self.rng
        plan = (
            [("done", rng.randint(-40, -1)) for _ in range(15)]
            + [("overdue", rng.randint(-12, -1)) for _ in range(8)]
            + [("today", 0) for _ in range(7)]
            + [("ahead", rng.randint(1, 14)) for _ in range(15)]
        )
        for state, offset in plan:
            contact = rng.choice(self.contacts)
            actor = rng.choice(self.sellers)
            subject = rng.choice(TASK_SUBJECTS)
            due = self.today + timedelta(days=offset)
            extra = {}
            if state == "done":
                extra = {"status": "completed", "completed_at": self._at(due, 11)}
            task = self._create(
                actor,
                type="task",
                subject=f"{subject}: {contact.company.name if contact.company else contact}",
                due_date=due,
                priority=rng.choice(("normal", "normal", "high", "urgent", "low")),
                contact=contact,
                **extra,
            )
            if subject in CHECKLISTS:
                self._checklist(task, actor, CHECKLISTS[subject], ticked=state == "done")
            created = self._at(due - timedelta(days=rng.randint(1, 6)), 9, 30)
            self.dated.append((task.pk, min(created, self.now)))

    def _checklist(self, task, actor, items, *, ticked: bool) -> None:
        from .services import checklist_item_add, checklist_item_update

        for position, text in enumerate(items):
            item = checklist_item_add(activity=task, actor=actor, text=text)
            if ticked or (position == 0 and self.rng.random() < 0.6):
                checklist_item_update(item=item, actor=actor, done=True)

    # --- follow-up chains -------------------------------------------------------------------

    def follow_up_chains(self) -> None:
        """Three customers worked in steps: a discovery call last week whose completion
        booked a demo; two demos done, whose completion set a proposal task; one demo
        still ahead (next week)."""
        from datetime import timedelta

        from .services import activity_complete

        rng = self.rng
        monday = self.today - timedelta(days=self.today.weekday())
        people = rng.sample([c for c in self.contacts if c.company_id], 3)
        for i, contact in enumerate(people):
            actor = rng.choice(self.sellers[:6])
            called = self._at(monday - timedelta(days=7 - i), 11)
            call = self._create(
                actor,
                type="call",
                subject="Discovery call",
                scheduled_at=called,
                duration_minutes=30,
                contact=contact,
            )
            demo_day = monday + timedelta(days=8 + i) if i == 2 else monday - timedelta(days=4 - i)
            call, demo = activity_complete(
                activity=call,
                actor=actor,
                completed_at=called + timedelta(minutes=25),
                call_direction="outbound",
                call_outcome="connected",
                notes="<p>Good fit. Booked a product demo with their team.</p>",
                follow_up={
                    "type": "meeting",
                    "subject": f"Product demo: {contact.company.name}",
                    "scheduled_at": self._at(demo_day, 15),
                    "duration_minutes": 60,
                    "video_url": f"https://meet.example.com/{rng.getrandbits(40):010x}",
                },
            )
            self.dated.append((call.pk, called - timedelta(days=2)))
            self.dated.append((demo.pk, called + timedelta(minutes=25)))
            self._attend(demo, actor, user=actor, response="accepted")
            self._attend(demo, actor, contact=contact, response="accepted")
            if demo.scheduled_at > self.now:
                self._remind(demo, actor, [60])
                continue
            demo, task = activity_complete(
                activity=demo,
                actor=actor,
                completed_at=demo.ends_at,
                notes="<p>They liked the pipeline board and the forecast.</p>",
                follow_up={
                    "type": "task",
                    "subject": f"Send proposal: {contact.company.name}",
                    "due_date": min(demo_day + timedelta(days=3), self.today + timedelta(days=2)),
                    "priority": "high",
                },
            )
            self.dated.append((task.pk, demo.ends_at))

    # --- dates ------------------------------------------------------------------------------

    def backdate(self) -> None:
        """Past activities were written down when they happened, not today."""
        from .models import Activity

        for pk, when in self.dated:
            Activity.objects.filter(pk=pk).update(created_at=when, updated_at=when)
