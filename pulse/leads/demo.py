"""Demo leads for ``manage.py seed_demo``: stages, leads across the pipeline, forms,
scoring rules and history, assignment rules, a few conversions.

``seed`` runs inside ``tenant_context(org, actor=owner)``; each section adds its part.
"""

from __future__ import annotations


def _owner(users):
    return users["owner"] if isinstance(users, dict) else users[0]


# --- leads and stages (A) ---
_DEMO_COMPANIES = (
    ("Northwind Traders", "Retail", "https://northwind.example"),
    ("Contoso Pharma", "Healthcare", "https://contoso.example"),
    ("Initech", "Software", "https://initech.example"),
    ("Globex", "Manufacturing", "https://globex.example"),
    ("Umbrella Labs", "Biotech", "https://umbrella.example"),
    ("Stark Solar", "Energy", "https://starksolar.example"),
    ("Wayne Logistics", "Logistics", "https://waynelogistics.example"),
    ("Acme Robotics", "Software", "https://acme-robotics.example"),
    ("Hooli Cloud", "Software", "https://hooli.example"),
    ("Vandelay Imports", "Wholesale", "https://vandelay.example"),
    ("Sofia Bakery Group", "Food", "https://sofiabakery.example"),
    ("Plovdiv Tech Park", "Real estate", "https://ptp.example"),
)
_DEMO_PEOPLE = (
    ("Maria", "Ivanova", "Head of Operations"),
    ("Georgi", "Petrov", "CTO"),
    ("Elena", "Dimitrova", "VP Sales"),
    ("James", "Carter", "Procurement Manager"),
    ("Aisha", "Khan", "Founder"),
    ("Lukas", "Becker", "IT Manager"),
    ("Sofia", "Rossi", "Marketing Lead"),
    ("Noah", "Williams", "CEO"),
    ("Yuki", "Tanaka", "Head of Finance"),
    ("Pedro", "Alves", "Student"),
)
_DEMO_NEEDS = (
    "CRM rollout for the sales team",
    "Replace spreadsheets for pipeline tracking",
    "Support desk for 20 agents",
    "Marketing automation pilot",
    "Yearly licence renewal",
    "Data migration from legacy CRM",
    "Partner portal",
    "Field sales mobile access",
)
# source, utm_source, utm_medium, utm_campaign
_DEMO_SOURCES = (
    ("web_form", "google", "cpc", "spring-launch"),
    ("web_form", "linkedin", "social", "b2b-webinar"),
    ("campaign", "newsletter", "email", "march-newsletter"),
    ("referral", "", "", ""),
    ("event", "", "", "sofia-tech-expo"),
    ("import", "", "", ""),
    ("api", "partner-site", "referral", ""),
    ("social", "twitter", "social", "launch-thread"),
    ("manual", "", "", ""),
    ("email", "", "", ""),
)
_DEMO_UNQUALIFIED = (
    "No budget this year",
    "Student project, not a buyer",
    "Chose a competitor",
    "Duplicate enquiry",
)
_DEMO_NOTES = (
    "Call went well, sending a proposal.",
    "Left a voicemail; will try again Thursday.",
    "Budget confirmed by their CFO.",
    "Demo booked for next week.",
    "",
)


def seed_leads(org, users, rng, count: int = 60) -> list:
    """About 60 leads across the stages over the last 90 days: sources with UTM, EUR
    values, owners, tags, some linked to contacts, some unqualified with a reason, and
    stage history with notes."""
    import datetime
    from decimal import Decimal

    from django.utils import timezone

    from pulse.contacts.models import Contact
    from pulse.extras.models import Tag
    from pulse.extras.services import tag_create

    from .models import Lead, LeadStageChange
    from .services import lead_create, lead_move_stage, leadstage_ensure_defaults

    owner = _owner(users)
    people = list(users.values()) if isinstance(users, dict) else list(users)
    stages = {s.key: s for s in leadstage_ensure_defaults(org=org, actor=owner)}
    tags = []
    for name in ("Enterprise", "SMB", "Hot prospect", "Partner"):
        tag = Tag.objects.filter(name=name).first() or tag_create(org=org, actor=owner, name=name)
        tags.append(tag)
    contacts = list(Contact.objects.exclude(email="").order_by("created_at")[:8])
    now = timezone.now()
    path = {
        "new": [],
        "contacted": ["contacted"],
        "qualified": ["contacted", "qualified"],
        "unqualified": ["contacted", "unqualified"],
    }
    weights = ["new"] * 5 + ["contacted"] * 4 + ["qualified"] * 3 + ["unqualified"] * 2
    created = []
    for n in range(count):
        first, last, job = rng.choice(_DEMO_PEOPLE)
        company, industry, website = rng.choice(_DEMO_COMPANIES)
        source, utm_source, utm_medium, utm_campaign = rng.choice(_DEMO_SOURCES)
        fields = {
            "title": f"{company}: {rng.choice(_DEMO_NEEDS)}",
            "first_name": first,
            "last_name": last,
            "job_title": job,
            "email": f"{first.lower()}.{last.lower()}{n}@{website.split('//')[1]}",
            "company_name": company,
            "website": website,
            "industry": industry,
            "source": source,
            "utm_source": utm_source,
            "utm_medium": utm_medium,
            "utm_campaign": utm_campaign,
            "value": Decimal(rng.choice([1500, 4800, 9000, 12000, 25000, 60000])),
            "currency": "EUR",
            "tags": rng.sample(tags, rng.randint(0, 2)),
            "expected_close_date": (now + datetime.timedelta(days=rng.randint(10, 120))).date(),
        }
        # About one lead in seven is left to the assignment rules, like a lead typed in
        # without an owner.
        if rng.random() < 0.85:
            fields["assigned_to"] = rng.choice(people)
        if contacts and rng.random() < 0.2:
            contact = rng.choice(contacts)
            fields.update(contact=contact, email=contact.email)
        lead = lead_create(org=org, actor=owner, **fields)
        created_at = now - datetime.timedelta(days=rng.randint(0, 89), hours=rng.randint(0, 23))
        moved_at = created_at
        for key in path[rng.choice(weights)]:
            reason = rng.choice(_DEMO_UNQUALIFIED) if stages[key].requires_reason else ""
            lead = lead_move_stage(
                lead=lead,
                stage=stages[key],
                actor=lead.assigned_to or owner,
                notes=rng.choice(_DEMO_NOTES),
                reason=reason,
            )
            moved_at = moved_at + datetime.timedelta(days=rng.randint(1, 5))
            moved_at = min(moved_at, now)
            # Demo only: spread the history over the past instead of "just now".
            LeadStageChange.objects.filter(lead=lead, to_stage=stages[key]).update(
                changed_at=moved_at
            )
        LeadStageChange.objects.filter(lead=lead, from_stage__isnull=True).update(
            changed_at=created_at
        )
        Lead.objects.filter(pk=lead.pk).update(created_at=created_at, stage_changed_at=moved_at)
        created.append(lead)
    return created


# --- web-to-lead forms (B) ---
_DEMO_FORM_PEOPLE = (
    ("Ivan", "Georgiev", "Balkan Freight", "Logistics"),
    ("Clara", "Meyer", "Meyer & Söhne", "Manufacturing"),
    ("Tom", "O'Brien", "Brightside Dental", "Healthcare"),
    ("Nadia", "Stoyanova", "Varna Yachts", "Retail"),
    ("Omar", "Haddad", "Cedar Software", "Software"),
    ("Lea", "Dubois", "Atelier Lumière", "Design"),
    ("Raj", "Patel", "Patel Pharmacies", "Healthcare"),
    ("Anna", "Kowalska", "Vistula Data", "Software"),
)


def seed_web_forms(org, users, rng) -> None:
    """A "Contact sales" form and a double opt-in "Download the whitepaper" form, with
    about 15 submissions that made leads (through ``webform_submit``, so routing and
    scoring apply) and a couple of spam posts caught by the honeypot."""
    from .webforms import webform_confirm, webform_create, webform_submit

    owner = _owner(users)
    sales = webform_create(
        org=org,
        actor=owner,
        name="Contact sales",
        fields=[
            {"name": "first_name", "label": "First name", "required": True},
            {"name": "last_name", "label": "Last name", "required": True},
            {"name": "email", "label": "Work email", "required": True},
            {"name": "company_name", "label": "Company", "required": False},
            {"name": "industry", "label": "Industry", "required": False},
            {"name": "description", "label": "How can we help?", "required": False},
        ],
        submit_label="Talk to sales",
        consent_text="I agree that PulseCRM may contact me about my request.",
        thank_you_message="Thank you! Someone from our sales team will reply within a day.",
    )
    paper = webform_create(
        org=org,
        actor=owner,
        name="Download the whitepaper",
        fields=[
            {"name": "email", "label": "Email", "required": True},
            {"name": "first_name", "label": "First name", "required": False},
            {"name": "company_name", "label": "Company", "required": False},
        ],
        submit_label="Send me the whitepaper",
        thank_you_message="Confirmed! The whitepaper is on its way to your inbox.",
        default_source="campaign",
        double_opt_in=True,
    )
    campaigns = [
        {"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "crm-spring"},
        {"utm_source": "newsletter", "utm_medium": "email", "utm_campaign": "may-digest"},
        {"utm_source": "linkedin", "utm_medium": "social", "utm_campaign": "whitepaper"},
        {},
    ]
    pages = ["https://pulsecrm.example/pricing", "https://blog.pulsecrm.example/lead-scoring", ""]
    for n in range(15):
        first, last, company, industry = _DEMO_FORM_PEOPLE[n % len(_DEMO_FORM_PEOPLE)]
        email = f"{first}.{last}{n}@example.com".lower().replace("'", "")
        ip = f"198.51.100.{10 + n}"  # documentation addresses, one per visitor
        if n % 3 == 2:
            submission = webform_submit(
                form=paper,
                data={"email": email, "first_name": first, "company_name": company},
                ip=ip,
                user_agent="Mozilla/5.0 (demo)",
                referrer=rng.choice(pages),
                utm=campaigns[2],
            )
            if n != 14:  # one stays waiting for its confirmation
                webform_confirm(token=submission.confirm_token)
            continue
        webform_submit(
            form=sales,
            data={
                "first_name": first,
                "last_name": last,
                "email": email,
                "company_name": company,
                "industry": industry,
                "description": "We would like a demo for our team.",
                "consent": "on",
            },
            ip=ip,
            user_agent="Mozilla/5.0 (demo)",
            referrer=rng.choice(pages),
            utm=rng.choice(campaigns),
        )
    for n in range(2):
        webform_submit(
            form=sales,
            data={"first_name": "Cheap", "email": "bot@spam.example", "homepage": "http://spam"},
            ip=f"203.0.113.{50 + n}",
            user_agent="curl/8.0",
        )


# --- scoring (C) ---
_DEMO_RULES = (
    # name, kind, field, operator, value, event, points
    ("Software industry", "field", "industry", "equals", "Software", "", 15),
    ("Decision maker", "field", "job_title", "contains", "head", "", 10),
    ("Senior title", "field", "job_title", "in", "CEO, CTO, Founder, VP Sales", "", 15),
    ("Big deal", "field", "value", "gt", "10000", "", 10),
    ("Referral", "field", "source", "equals", "referral", "", 10),
    ("Student", "field", "job_title", "contains", "student", "", -20),
    ("Email opened", "engagement", "", "", "", "email_opened", 5),
    ("Meeting held", "engagement", "", "", "", "meeting_held", 20),
)


def seed_scoring_rules(org, users, rng) -> None:
    """Eight sensible rules: firmographics, seniority, deal size, source, engagement."""
    from .scoring import scoringrule_create

    for name, kind, field, operator, value, event, points in _DEMO_RULES:
        scoringrule_create(
            org=org,
            actor=_owner(users),
            name=name,
            kind=kind,
            field=field,
            operator=operator,
            value=value,
            event=event,
            points=points,
        )


def seed_scoring_history(org, users, rng, *, count: int = 80) -> None:
    """About 80 closed leads over the past year with a learnable signal (referrals and
    software companies convert more, students rarely), then train and apply the model.

    Closed means moved to a converted- or unqualified-kind stage (``lead_move_stage``):
    the model learns from the stage kind, not from ``converted_at`` (conversion proper is
    ``lead_convert``'s). The stage dates are spread over the year with a plain UPDATE of
    ``stage_changed_at`` (demo data only) so the backtest has a history to split by time.
    """
    from decimal import Decimal

    from django.utils import timezone

    from .models import Lead, LeadStageChange, StageKind
    from .scoring import predictive_apply, predictive_train
    from .services import (
        lead_create,
        lead_engagement_record,
        lead_move_stage,
        leadstage_ensure_defaults,
    )

    owner = _owner(users)
    people = list(users.values()) if isinstance(users, dict) else list(users)
    stages = leadstage_ensure_defaults(org=org, actor=owner)
    won = next(s for s in stages if s.kind == StageKind.CONVERTED)
    lost = next(s for s in stages if s.kind == StageKind.UNQUALIFIED)
    now = timezone.now()
    sources = ["referral", "web_form", "campaign", "event", "social"]
    for i in range(count):
        first, last, title = rng.choice(_DEMO_PEOPLE)
        company, industry, website = rng.choice(_DEMO_COMPANIES)
        source = rng.choice(sources)
        chance = 0.3 + 0.3 * (source == "referral") + 0.2 * (industry == "Software")
        chance -= 0.25 * (title == "Student")
        converted = rng.random() < max(0.05, min(0.95, chance))
        lead = lead_create(
            org=org,
            actor=owner,
            assigned_to=rng.choice(people),
            title=f"{company}: {rng.choice(_DEMO_NEEDS)}",
            first_name=first,
            last_name=last,
            email=f"{first.lower()}.{last.lower()}.h{i}@{website.split('//')[1]}",
            company_name=company,
            website=website,
            industry=industry,
            job_title=title,
            source=source,
            value=Decimal(rng.choice([1500, 4800, 9000, 12000, 25000])),
            currency="EUR",
        )
        closed_at = now - timezone.timedelta(days=365 - i * 4, hours=rng.randint(0, 20))
        created_at = closed_at - timezone.timedelta(days=rng.randint(5, 40))
        # Buyers tend to open more emails, but not always: a signal, not a giveaway.
        for _n in range(rng.randint(0, 3) + (converted and rng.random() < 0.6)):
            lead_engagement_record(
                lead=lead,
                kind="email_opened",
                occurred_at=closed_at - timezone.timedelta(days=rng.randint(1, 4)),
            )
        if converted:
            lead_move_stage(lead=lead, stage=won, actor=owner, notes="Signed")
        else:
            reason = rng.choice(["No budget", "Went with a competitor", "Not a fit"])
            lead_move_stage(lead=lead, stage=lost, actor=owner, reason=reason)
        # Demo only: a year of history instead of "just now".
        Lead.objects.unscoped().filter(pk=lead.pk).update(
            created_at=created_at, stage_changed_at=closed_at
        )
        LeadStageChange.objects.filter(lead=lead, from_stage__isnull=True).update(
            changed_at=created_at
        )
        LeadStageChange.objects.filter(lead=lead, from_stage__isnull=False).update(
            changed_at=closed_at
        )
    predictive_train(org=org)
    predictive_apply(org=org)


# --- routing, conversion (D) ---


def seed_assignment_rules(org, users, rng) -> None:
    """Three rules in order: Bulgaria → the sales manager; big deals round robin in the
    Enterprise Sales team (or the reps); everyone else to whoever has the fewest open."""
    from pulse.accounts.models import Team

    from .routing import assignmentrule_create

    owner = _owner(users)
    people = users if isinstance(users, dict) else {"owner": owner}
    maria = people.get("manager") or owner
    reps = [u for u in (people.get("rep1"), people.get("rep2")) if u is not None] or [owner]
    team = Team.objects.filter(name="Enterprise Sales").first()
    assignmentrule_create(
        org=org,
        actor=owner,
        name="Bulgaria → Maria",
        strategy="territory",
        territories={"BG": maria.pk},
    )
    assignmentrule_create(
        org=org,
        actor=owner,
        name="Big deals: Enterprise Sales round robin",
        strategy="round_robin",
        conditions=[{"field": "value", "operator": "gt", "value": "20000"}],
        team=team,
        users=[] if team is not None else reps,
    )
    assignmentrule_create(
        org=org,
        actor=owner,
        name="Everyone else: fewest open leads",
        strategy="fewest_open",
        users=[*reps, maria],
    )


def seed_conversions(org, users, rng, count: int = 8) -> None:
    """Convert about eight open demo leads through ``lead_convert`` (contacts and companies
    deduplicated like real ones), dated a few days after each lead came in."""
    import datetime

    from django.utils import timezone

    from .conversion import lead_convert
    from .models import Lead, StageKind

    owner = _owner(users)
    candidates = list(
        Lead.objects.filter(converted_at__isnull=True, stage__kind=StageKind.OPEN)
        .exclude(company_name="")
        .select_related("assigned_to")
        .order_by("created_at")[:60]
    )
    rng.shuffle(candidates)
    now = timezone.now()
    for lead in candidates[:count]:
        result = lead_convert(lead=lead, actor=lead.assigned_to or owner)
        # Demo only: spread the conversions over the past instead of "just now".
        when = min(now, lead.created_at + datetime.timedelta(days=rng.randint(2, 25)))
        Lead.objects.filter(pk=result.lead.pk).update(converted_at=when, stage_changed_at=when)


def seed_engagements(org, users, rng) -> None:
    """What the open demo leads did lately (emails opened and replied, meetings held),
    so their scores and bands differ the way a live pipeline's do."""
    import datetime

    from django.utils import timezone

    from .models import Lead, StageKind
    from .services import lead_engagement_record

    now = timezone.now()
    leads = Lead.objects.filter(stage__kind=StageKind.OPEN).select_related("stage")
    for lead in leads:
        warmth = {"new": 0, "contacted": 1, "qualified": 2}.get(lead.stage.key, 0)
        events = ["email_opened"] * rng.randint(0, 2 + 2 * warmth)
        events += ["email_replied"] * (rng.random() < 0.3 * warmth)
        events += ["meeting_held"] * (rng.random() < 0.35 * warmth)
        for kind in events:
            days = rng.randint(0, 40)
            lead_engagement_record(
                lead=lead, kind=kind, occurred_at=now - datetime.timedelta(days=days)
            )


def seed(org, users, rng) -> None:
    """Create the demo leads and their configuration. Order matters: rules before leads,
    so the demo leads are routed and scored like real ones; history before conversions."""
    from .services import lead_settings, leadsettings_update

    # Northwind's rules add up to about 50 points for a strong lead: its bands sit lower
    # than the defaults (70 / 40) so the board shows hot, warm and cold leads.
    leadsettings_update(
        settings=lead_settings(org=org), actor=_owner(users), hot_threshold=40, warm_threshold=20
    )
    seed_assignment_rules(org, users, rng)
    seed_scoring_rules(org, users, rng)
    seed_web_forms(org, users, rng)
    seed_leads(org, users, rng)
    seed_engagements(org, users, rng)
    seed_scoring_history(org, users, rng)
    seed_conversions(org, users, rng)
