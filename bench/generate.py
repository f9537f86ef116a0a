"""Reproducible scale data: one big organization and two small ones beside it.

    python -m bench generate --size large --seed 1      # 1,000,000 contacts, 100,000 companies
    python -m bench generate --size medium --reset      # 100,000 / 10,000, after removing
                                                        # an earlier generated set

The same ``--seed`` and size give the same rows. Distributions aim at what a real CRM
holds: a few owners with most records, company sizes skewed (a handful of companies
with thousands of contacts, most with a few), companies in hierarchies up to four
levels deep, dates over three years with growth towards today, tags and custom field
values on a share of the rows, valid E.164 phones, emails at the company's domain or at
free-mail providers, and some duplicates (same email, same person entered twice).

PostgreSQL is loaded with ``COPY``, SQLite with ``bulk_create`` in batches (see
``bench/loader.py``). Issue 8's leads, opportunities and activities plug in as further
``_generate_<thing>`` steps fed by the same ``World``.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import itertools
import json
import multiprocessing
import random
import re
import time
import unicodedata
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from . import BIG_ORG_SLUG, OWNER_EMAIL, PASSWORD, RESULTS_DIR, setup_django

SIZES = {
    # name: (contacts, companies) of the big organization
    "tiny": (300, 30),
    "small": (10_000, 1_000),
    "medium": (100_000, 10_000),
    "large": (1_000_000, 100_000),
}
# Leads of the big organization per preset (issue 4 benchmarks the pipeline at 200,000).
LEADS = {"tiny": 100, "small": 10_000, "medium": 50_000, "large": 200_000}
# Opportunities of the big organization per preset (issue 5 benchmarks 300,000 deals and
# about 2,000,000 stage changes: ``--size large`` or ``--opportunities 300000``).
OPPORTUNITIES = {"tiny": 150, "small": 10_000, "medium": 50_000, "large": 300_000}
# Activities of the big organization per preset (issue 6 benchmarks 5,000,000:
# ``--size large`` or ``--size small --activities 5000000``).
ACTIVITIES = {"tiny": 1_000, "small": 50_000, "medium": 500_000, "large": 5_000_000}
# From this many rows on, PostgreSQL loads without secondary indexes and FK triggers.
BULK_LOAD_FROM = 200_000
# Activities of a big load are written in chunks of this many by this many processes.
ACT_CHUNK = 250_000
ACT_PROCESSES = 2
# Set while a bulk load has foreign-key triggers off (``_bulk_load``); what a forked
# activity writer inherits.
_REPLICA = False
_FORKED: tuple | None = None
CONTACT_SAMPLE = 20_000  # contacts remembered for opportunities to link to
SMALL_ORGS = ("bench-small-1", "bench-small-2")
SMALL_ORG_SHARE = 50  # each small organization holds 1/50 of the big one's rows
YEARS = 3
# The generated world's "now": every date is relative to it, so a seed gives the same rows.
CLOCK = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
FREE_MAIL = (
    ("gmail.com", 30),
    ("yahoo.com", 8),
    ("outlook.com", 8),
    ("hotmail.com", 5),
    ("icloud.com", 4),
    ("gmx.de", 3),
    ("abv.bg", 2),
    ("proton.me", 1),
)
COMPANY_WORDS = [
    "Systems",
    "Solutions",
    "Labs",
    "Holdings",
    "Partners",
    "Group",
    "Logistics",
    "Analytics",
    "Foods",
    "Energy",
    "Capital",
    "Media",
    "Health",
    "Robotics",
    "Software",
    "Consulting",
    "Industries",
    "Networks",
    "Ventures",
    "Pharma",
    "Motors",
    "Textiles",
    "Studios",
    "Works",
    "Foundry",
    "Dynamics",
    "Global",
    "Digital",
    "Marine",
]
COMPANY_SUFFIXES = ("Inc.", "LLC", "Ltd", "GmbH", "Corp.", "", "", "", "AG", "OOD", "S.A.")
INDUSTRIES = (
    "Software",
    "Manufacturing",
    "Retail",
    "Healthcare",
    "Finance",
    "Logistics",
    "Education",
    "Energy",
    "Media",
    "Hospitality",
    "Construction",
    "Agriculture",
)
TLDS = (("com", 70), ("io", 8), ("de", 6), ("co.uk", 5), ("bg", 4), ("net", 4), ("org", 3))
COUNTRIES = (("US", 45), ("GB", 12), ("DE", 12), ("BG", 8), ("FR", 8), ("CA", 8), ("NL", 7))
# Phones: a few countries' valid national prefixes; the last four digits vary freely.
PHONE_REGIONS = (("US", "+1", 7), ("GB", "+44", 6), ("DE", "+49", 7), ("BG", "+359", 5))
TAG_NAMES = [
    "vip",
    "newsletter",
    "partner",
    "churn-risk",
    "webinar",
    "trade-show",
    "enterprise",
    "smb",
    "reseller",
    "investor",
    "press",
    "beta-tester",
    "renewal-q1",
    "renewal-q2",
    "renewal-q3",
    "renewal-q4",
    "upsell",
    "referral",
    "decision-maker",
    "influencer",
    "champion",
    "detractor",
    "support-heavy",
    "nps-promoter",
    "nps-detractor",
    "event-2024",
    "event-2025",
    "conference",
    "cold",
    "warm",
]
DEPARTMENTS = ("Sales", "Marketing", "Engineering", "Finance", "Operations", "HR", "Legal", "IT")


def _zipf_cum(n: int, s: float = 1.1) -> list[float]:
    """Cumulative weights 1/rank^s: a few items take most draws (owners, companies, tags)."""
    return list(itertools.accumulate(1.0 / (rank**s) for rank in range(1, n + 1)))


def _weighted(pairs) -> tuple[list, list[float]]:
    values = [v for v, _ in pairs]
    return values, list(itertools.accumulate(w for _, w in pairs))


def _slug(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text)
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch)).lower()
    return re.sub(r"[^a-z0-9]+", "", folded)


@dataclass
class Pools:
    """Name, title and city pools, weighted like the real populations Faker ships."""

    first: list[str]
    first_cum: list[float]
    last: list[str]
    last_cum: list[float]
    jobs: list[str]
    cities: list[str]
    phone_prefixes: list[str]

    @classmethod
    def build(cls, rng: random.Random) -> Pools:
        from faker import Faker
        from faker.providers.job.en_US import Provider as Jobs
        from faker.providers.person.bg_BG import Provider as BgPeople
        from faker.providers.person.de_DE import Provider as DePeople
        from faker.providers.person.en_US import Provider as UsPeople

        first: dict[str, float] = {}
        for names in (UsPeople.first_names_female, UsPeople.first_names_male):
            for name, weight in names.items():
                first[name] = first.get(name, 0) + weight
        last = dict(UsPeople.last_names)
        # Some German and Bulgarian names, with accents and Cyrillic, at a lower weight.
        for name in DePeople.first_names[:150]:
            first.setdefault(name, 0.0004)
        for name in DePeople.last_names[:300]:
            last.setdefault(name, 0.0002)
        for name in BgPeople.first_names_male[:40] + BgPeople.first_names_female[:40]:
            first.setdefault(name, 0.0002)
        for name in BgPeople.last_names_male[:60]:
            last.setdefault(name, 0.0001)
        faker = Faker("en_US")
        faker.seed_instance(rng.randint(0, 2**31))
        cities = sorted({faker.city() for _ in range(400)})
        return cls(
            first=list(first),
            first_cum=list(itertools.accumulate(first.values())),
            last=list(last),
            last_cum=list(itertools.accumulate(last.values())),
            jobs=list(Jobs.jobs),
            cities=cities,
            phone_prefixes=_phone_prefixes(rng),
        )


def _phone_prefixes(rng: random.Random, per_region: int = 400) -> list[str]:
    """E.164 prefixes for which any four final digits make a valid number."""
    import phonenumbers

    prefixes = []
    for _region, code, national_len in PHONE_REGIONS:
        found = 0
        attempts = 0
        while found < per_region and attempts < per_region * 40:
            attempts += 1
            first_digit = str(rng.randint(2, 9))
            rest = "".join(str(rng.randint(0, 9)) for _ in range(national_len - 1))
            prefix = f"{code}{first_digit}{rest}"
            if all(
                phonenumbers.is_valid_number(
                    phonenumbers.parse(f"{prefix}{rng.randint(0, 9999):04d}")
                )
                for _ in range(3)
            ):
                prefixes.append(prefix)
                found += 1
    return prefixes


@dataclass
class OrgData:
    """What later steps need of one generated organization."""

    org: object
    users: list = field(default_factory=list)
    owner_cum: list[float] = field(default_factory=list)
    tags: list[uuid.UUID] = field(default_factory=list)
    company_ids: list[uuid.UUID] = field(default_factory=list)
    company_domains: list[str] = field(default_factory=list)
    company_cum: list[float] = field(default_factory=list)
    company_names: list[str] = field(default_factory=list)
    # Every n-th contact (id, index of its company or None): what opportunities link to.
    contact_sample: list[tuple] = field(default_factory=list)


@dataclass
class World:
    """The generator's state: the seeded random source, pools, the clock, the loader."""

    rng: random.Random
    pools: Pools
    now: datetime
    loader: object

    def uuid(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def pick(self, values, cum):
        return values[bisect.bisect(cum, self.rng.random() * cum[-1])]

    def created_at(self) -> datetime:
        # Growth: more records recently (triangular towards now).
        age_days = self.rng.triangular(0, YEARS * 365, 0)
        return self.now - timedelta(days=age_days, seconds=self.rng.randint(0, 86399))

    def updated_after(self, created: datetime) -> datetime:
        if self.rng.random() < 0.6:
            return created
        span = (self.now - created).total_seconds()
        return created + timedelta(seconds=self.rng.random() * span)

    def phone(self) -> str:
        return f"{self.rng.choice(self.pools.phone_prefixes)}{self.rng.randint(0, 9999):04d}"


# --- organizations and people ---------------------------------------------------------------


def _make_org(world: World, slug: str, name: str, members: int) -> OrgData:
    from django.contrib.auth.hashers import make_password

    from pulse.accounts.models import Membership, Organization, Role, User

    org = Organization.objects.create(name=name, slug=slug, country="US")
    hashed = make_password(PASSWORD)
    roles = [Role.OWNER, Role.ADMIN, Role.MANAGER] + [Role.SALES_REP] * max(0, members - 3)
    users = []
    for i, role in enumerate(roles[:members]):
        first = world.pick(world.pools.first, world.pools.first_cum)
        last = world.pick(world.pools.last, world.pools.last_cum)
        email = OWNER_EMAIL if slug == BIG_ORG_SLUG and i == 0 else f"{role}{i}@{slug}.example"
        user = User(email=email, full_name=f"{first} {last}", password=hashed)
        user.last_organization = org
        user.save()
        Membership.objects.unscoped().create(organization=org, user=user, role=role)
        users.append(user)
    data = OrgData(org=org, users=users)
    data.owner_cum = _zipf_cum(len(users), 1.3)
    return data


def _make_tags_and_fields(world: World, data: OrgData, n_tags: int) -> None:
    from django.contrib.contenttypes.models import ContentType

    from pulse.contacts.models import Contact
    from pulse.extras.models import CustomField, Tag

    org = data.org
    stamp = world.now - timedelta(days=YEARS * 365)
    for i, name in enumerate(TAG_NAMES[:n_tags]):
        tag_id = world.uuid()
        world.loader(Tag).add(
            {
                "id": tag_id,
                "organization_id": org.pk,
                "name": name,
                "color": f"#{(i * 2654435761) & 0xFFFFFF:06x}",
                "created_at": stamp,
                "updated_at": stamp,
            }
        )
        data.tags.append(tag_id)
    contact_type = ContentType.objects.get_for_model(Contact)
    for position, (key, label, field_type, choices) in enumerate(
        (
            ("tier", "Tier", "choice", ["gold", "silver", "bronze"]),
            ("budget", "Budget", "number", []),
            ("newsletter", "Newsletter", "boolean", []),
            ("renewal", "Renewal date", "date", []),
        )
    ):
        world.loader(CustomField).add(
            {
                "id": world.uuid(),
                "organization_id": org.pk,
                "content_type_id": contact_type.pk,
                "key": key,
                "label": label,
                "field_type": field_type,
                "choices": choices,
                "position": position,
                "created_at": stamp,
                "updated_at": stamp,
            }
        )
    world.loader.flush()


# --- companies ------------------------------------------------------------------------------


def _company_name(world: World) -> str:
    rng = world.rng
    last = world.pick(world.pools.last, world.pools.last_cum)
    style = rng.random()
    if style < 0.45:
        name = f"{last} {rng.choice(COMPANY_WORDS)}"
    elif style < 0.7:
        other = world.pick(world.pools.last, world.pools.last_cum)
        name = f"{last} & {other}"
    elif style < 0.85:
        name = f"{rng.choice(COMPANY_WORDS)} {rng.choice(COMPANY_WORDS)}"
    else:
        other = world.pick(world.pools.last, world.pools.last_cum)
        name = f"{last}-{other} {rng.choice(COMPANY_WORDS)}"
    suffix = rng.choice(COMPANY_SUFFIXES)
    return f"{name} {suffix}".strip()


def _generate_companies(world: World, data: OrgData, count: int) -> None:
    from pulse.contacts.models import Company, SizeBand, company_name_key

    rng = world.rng
    tlds, tld_cum = _weighted(TLDS)
    countries, country_cum = _weighted(COUNTRIES)
    sizes = [s.value for s in SizeBand]
    tag_cum = _zipf_cum(len(data.tags))
    through = Company.tags.through
    used_domains: set[str] = set()
    org_id = data.org.pk
    for i in range(count):
        pk = world.uuid()
        name = _company_name(world)
        base = _slug(name.split(" ")[0]) or "company"
        domain = f"{base}.{world.pick(tlds, tld_cum)}"
        while domain in used_domains:
            domain = f"{base}{rng.randint(2, 99999)}.{world.pick(tlds, tld_cum)}"
        used_domains.add(domain)
        # Hierarchies: one company in ten belongs to an earlier one (parents come first,
        # so there is never a cycle), mostly to the big groups at the front.
        parent = None
        if i > 20 and rng.random() < 0.1:
            parent = data.company_ids[int(rng.paretovariate(1.2) * 3) % i]
        created = world.created_at()
        rank_size = 0 if i >= len(sizes) * 50 else 6 - i // 50
        world.loader(Company).add(
            {
                "id": pk,
                "organization_id": org_id,
                "name": name,
                "name_key": company_name_key(name),
                "website": f"https://www.{domain}/",
                "domain": domain,
                "industry": rng.choice(INDUSTRIES),
                "size_band": sizes[max(rank_size, min(6, int(rng.expovariate(1.2))))],
                "annual_revenue": round(rng.lognormvariate(14, 2), 2)
                if rng.random() < 0.6
                else None,
                "currency": "USD",
                "phone": world.phone() if rng.random() < 0.7 else "",
                "city": rng.choice(world.pools.cities),
                "country": world.pick(countries, country_cum),
                "parent_id": parent,
                "assigned_to_id": world.pick(data.users, data.owner_cum).pk
                if rng.random() < 0.9
                else None,
                "created_by_id": data.users[0].pk,
                "updated_by_id": data.users[0].pk,
                "created_at": created,
                "updated_at": world.updated_after(created),
                "deleted_at": world.now if rng.random() < 0.003 else None,
                "version": 1,
            }
        )
        for tag in {world.pick(data.tags, tag_cum) for _ in range(int(rng.expovariate(1.5)))}:
            world.loader(through).add({"company_id": pk, "tag_id": tag})
        data.company_ids.append(pk)
        data.company_domains.append(domain)
        data.company_names.append(name)
    # Contacts per company: Zipf, so a few companies have thousands of people.
    data.company_cum = _zipf_cum(len(data.company_ids), 0.9)
    world.loader.flush()


# --- contacts -------------------------------------------------------------------------------


def _generate_contacts(world: World, data: OrgData, count: int) -> None:
    from pulse.contacts.models import Consent, Contact, LeadSource, LifecycleStage, email_domain

    rng = world.rng
    pools = world.pools
    stages, stage_cum = _weighted(
        [
            (LifecycleStage.SUBSCRIBER, 20),
            (LifecycleStage.LEAD, 35),
            (LifecycleStage.MARKETING_QUALIFIED, 12),
            (LifecycleStage.SALES_QUALIFIED, 8),
            (LifecycleStage.OPPORTUNITY, 6),
            (LifecycleStage.CUSTOMER, 15),
            (LifecycleStage.EVANGELIST, 2),
            (LifecycleStage.OTHER, 2),
        ]
    )
    sources = [s.value for s in LeadSource]
    consents, consent_cum = _weighted(
        [(Consent.UNKNOWN, 60), (Consent.OPTED_IN, 30), (Consent.OPTED_OUT, 10)]
    )
    free, free_cum = _weighted(FREE_MAIL)
    countries, country_cum = _weighted(COUNTRIES)
    tag_cum = _zipf_cum(len(data.tags), 1.0)
    through = Contact.tags.through
    writer = world.loader(Contact)
    org_id = data.org.pk
    recent: list[dict] = []
    sample_every = max(1, count // CONTACT_SAMPLE)
    for i in range(count):
        pk = world.uuid()
        # Some duplicates: the same person entered again (same email, or same name at the
        # same company with another email).
        if recent and rng.random() < 0.01:
            twin = rng.choice(recent)
            first, last, company_i = twin["first_name"], twin["last_name"], twin["_company"]
            email = twin["email"] if rng.random() < 0.6 else ""
        else:
            first = world.pick(pools.first, pools.first_cum)
            last = world.pick(pools.last, pools.last_cum)
            company_i = (
                bisect.bisect(data.company_cum, rng.random() * data.company_cum[-1])
                if data.company_ids and rng.random() < 0.85
                else None
            )
            email = ""
        if not email and rng.random() < 0.93:
            local = rng.choice(
                (f"{first}.{last}", f"{first[0]}{last}", f"{first}{rng.randint(1, 999)}")
            )
            local = _slug(local.replace(".", "dot")).replace("dot", ".") or "contact"
            if company_i is not None and rng.random() < 0.75:
                domain = data.company_domains[company_i]
            else:
                domain = world.pick(free, free_cum)
            if rng.random() < 0.5:
                local = f"{local}{rng.randint(1, 9999)}"
            email = f"{local}@{domain}"
        created = world.created_at()
        row = {
            "id": pk,
            "organization_id": org_id,
            "first_name": first,
            "last_name": last,
            "email": email,
            "email_domain": email_domain(email),
            "phone": world.phone() if rng.random() < 0.55 else "",
            "mobile": world.phone() if rng.random() < 0.35 else "",
            "title": rng.choice(pools.jobs)[:150] if rng.random() < 0.7 else "",
            "department": rng.choice(DEPARTMENTS) if rng.random() < 0.4 else "",
            "company_id": data.company_ids[company_i] if company_i is not None else None,
            "city": rng.choice(pools.cities) if rng.random() < 0.6 else "",
            "country": world.pick(countries, country_cum) if rng.random() < 0.7 else "",
            "lead_source": rng.choice(sources) if rng.random() < 0.8 else "",
            "lifecycle_stage": world.pick(stages, stage_cum),
            "email_opt_in": world.pick(consents, consent_cum),
            "phone_opt_in": world.pick(consents, consent_cum),
            "sms_opt_in": world.pick(consents, consent_cum),
            "do_not_contact": rng.random() < 0.02,
            "birthday": date(rng.randint(1950, 2003), rng.randint(1, 12), rng.randint(1, 28))
            if rng.random() < 0.15
            else None,
            "custom_fields": _custom_values(rng),
            "assigned_to_id": world.pick(data.users, data.owner_cum).pk
            if rng.random() < 0.95
            else None,
            "created_by_id": data.users[0].pk,
            "updated_by_id": data.users[0].pk,
            "created_at": created,
            "updated_at": world.updated_after(created),
            "deleted_at": world.now if rng.random() < 0.005 else None,
            "version": 1,
        }
        writer.add(row)
        if i % sample_every == 0:
            data.contact_sample.append((pk, company_i))
        if len(recent) < 5000:
            recent.append({**row, "_company": company_i})
        elif rng.random() < 0.01:
            recent[rng.randrange(5000)] = {**row, "_company": company_i}
        for tag in {world.pick(data.tags, tag_cum) for _ in range(int(rng.expovariate(0.9)))}:
            world.loader(through).add({"contact_id": pk, "tag_id": tag})
    world.loader.flush()


def _custom_values(rng: random.Random) -> dict:
    values = {}
    if rng.random() < 0.4:
        values["tier"] = rng.choice(("gold", "silver", "silver", "bronze", "bronze", "bronze"))
    if rng.random() < 0.25:
        values["budget"] = int(rng.lognormvariate(9, 1.2))
    if rng.random() < 0.3:
        values["newsletter"] = rng.random() < 0.5
    if rng.random() < 0.1:
        values["renewal"] = (date(2024, 1, 1) + timedelta(days=rng.randint(0, 1000))).isoformat()
    return values


# --- entry points ---------------------------------------------------------------------------


# --- leads (issue 4) --------------------------------------------------------------------------

LEAD_SOURCES = (
    ("web_form", 34),
    ("import", 14),
    ("campaign", 12),
    ("referral", 10),
    ("email", 8),
    ("social", 8),
    ("manual", 7),
    ("event", 4),
    ("api", 2),
    ("other", 1),
)
LEAD_STAGES = (
    ("new", 38),
    ("contacted", 24),
    ("qualified", 14),
    ("unqualified", 15),
    ("converted", 9),
)
UTM_SOURCES = ("google", "linkedin", "facebook", "newsletter", "bing", "partner-site", "twitter")
UTM_MEDIUMS = ("cpc", "email", "social", "referral", "display", "organic")
UTM_CAMPAIGNS = ("spring-launch", "webinar-q2", "black-friday", "retargeting", "brand", "trial")
LEAD_INDUSTRIES = ("Software", "Manufacturing", "Retail", "Finance", "Healthcare", "Logistics")
LEAD_SIZES = ("1-10", "11-50", "51-200", "201-500", "501-1000", "1000+")
LOST_REASONS = ("No budget", "Bad timing", "Chose a competitor", "No response", "Not a fit")
LEAD_TITLES = ("Website enquiry", "Demo request", "Pricing question", "Trial sign-up", "Referral")


def _generate_leads(world: World, data: OrgData, count: int) -> None:
    """Leads over the last two years: the default stages (through the service, so the
    keys are the real ones), skewed sources with UTM tags on marketing ones, values on
    most, owners zipf-distributed, scores 0–100 skewed low, tags on some."""
    from pulse.core.tenancy import tenant_context
    from pulse.leads.models import Lead
    from pulse.leads.services import leadstage_ensure_defaults

    if count <= 0:
        return
    with tenant_context(data.org):
        stages = {s.key: s.pk for s in leadstage_ensure_defaults(org=data.org)}
    rng = world.rng
    pools = world.pools
    sources, source_cum = _weighted(LEAD_SOURCES)
    stage_keys, stage_cum = _weighted([(k, w) for k, w in LEAD_STAGES if k in stages])
    countries, country_cum = _weighted(COUNTRIES)
    free, free_cum = _weighted(FREE_MAIL)
    tag_cum = _zipf_cum(len(data.tags), 1.0)
    through = Lead.tags.through
    writer = world.loader(Lead)
    org_id = data.org.pk
    two_years = 2 * 365
    for _ in range(count):
        pk = world.uuid()
        first = world.pick(pools.first, pools.first_cum)
        last = world.pick(pools.last, pools.last_cum)
        company = _company_name(world) if rng.random() < 0.8 else ""
        if company and rng.random() < 0.7:
            domain = f"{_slug(company.split()[0]) or 'company'}.{rng.choice(('com', 'io', 'de'))}"
        else:
            domain = world.pick(free, free_cum)
        email = f"{_slug(first)}.{_slug(last)}{rng.randint(1, 9999)}@{domain}"
        created = world.now - timedelta(
            days=rng.triangular(0, two_years, 0), seconds=rng.randint(0, 86399)
        )
        source = world.pick(sources, source_cum)
        marketing = source in ("web_form", "campaign", "social", "email")
        stage = world.pick(stage_keys, stage_cum)
        moved = created + timedelta(seconds=rng.random() * (world.now - created).total_seconds())
        owner = world.pick(data.users, data.owner_cum).pk if rng.random() < 0.9 else None
        has_value = rng.random() < 0.65
        score = min(100, int(rng.betavariate(2, 4) * 100))
        row = {
            "id": pk,
            "organization_id": org_id,
            "title": f"{rng.choice(LEAD_TITLES)}: {company or f'{first} {last}'}"[:200],
            "first_name": first,
            "last_name": last,
            "email": email if rng.random() < 0.95 else "",
            "phone": world.phone() if rng.random() < 0.5 else "",
            "company_name": company,
            "website": f"https://{domain}" if company and rng.random() < 0.5 else "",
            "job_title": rng.choice(pools.jobs)[:150] if rng.random() < 0.6 else "",
            "industry": rng.choice(LEAD_INDUSTRIES) if rng.random() < 0.6 else "",
            "company_size": rng.choice(LEAD_SIZES) if rng.random() < 0.5 else "",
            "country": world.pick(countries, country_cum) if rng.random() < 0.8 else "",
            "source": source,
            "utm_source": rng.choice(UTM_SOURCES) if marketing and rng.random() < 0.7 else "",
            "utm_medium": rng.choice(UTM_MEDIUMS) if marketing and rng.random() < 0.7 else "",
            "utm_campaign": rng.choice(UTM_CAMPAIGNS) if marketing and rng.random() < 0.6 else "",
            "stage_id": stages[stage],
            "stage_changed_at": moved,
            "unqualified_reason": rng.choice(LOST_REASONS) if stage == "unqualified" else "",
            "score": score,
            "scored_at": moved,
            "predicted_probability": round(rng.random(), 3) if rng.random() < 0.5 else None,
            "last_engagement_at": moved if rng.random() < 0.6 else None,
            "value": Decimal(int(rng.lognormvariate(8.5, 1.1))) if has_value else None,
            "currency": ("USD" if rng.random() < 0.7 else "EUR") if has_value else "",
            "expected_close_date": (moved + timedelta(days=rng.randint(7, 120))).date()
            if stage in ("contacted", "qualified") and rng.random() < 0.6
            else None,
            "assigned_to_id": owner,
            "assigned_at": created if owner else None,
            "converted_at": moved if stage == "converted" else None,
            "converted_by_id": owner if stage == "converted" else None,
            "created_by_id": data.users[0].pk,
            "updated_by_id": data.users[0].pk,
            "created_at": created,
            "updated_at": max(created, moved),
            "deleted_at": world.now if rng.random() < 0.005 else None,
            "version": 1,
        }
        writer.add(row)
        for tag in {world.pick(data.tags, tag_cum) for _ in range(int(rng.expovariate(1.5)))}:
            world.loader(through).add({"lead_id": pk, "tag_id": tag})
    world.loader.flush()


# --- opportunities (issue 5) ---------------------------------------------------------------

# (name, share of the deals, median value, what the deals are called)
OPP_PIPELINES = (
    ("New business", 60, 12_000, ("New licences", "Pilot", "Platform roll-out", "Team plan")),
    ("Renewals", 25, 6_000, ("Annual renewal", "Renewal + upsell", "Multi-year renewal")),
    ("Partners", 15, 25_000, ("Reseller agreement", "OEM deal", "Referral partnership")),
)
# Where open deals sit (most in the early stages), which stage lost deals reached, and
# the outcome mix: ~45% open, ~25% won, ~30% lost.
OPP_OPEN_AT = (40, 28, 20, 12)
OPP_LOST_FROM = (35, 30, 20, 15)
OPP_OUTCOMES = (("open", 45), ("won", 25), ("lost", 30))
OPP_CURRENCIES = (("USD", 45), ("EUR", 35), ("GBP", 10), ("CHF", 5), ("BGN", 5))
# 1 unit in EUR, where the monthly rates start (a gentle random walk from there).
OPP_RATES_EUR = {"USD": 0.92, "GBP": 1.17, "CHF": 1.04, "BGN": 0.51129, "EUR": 1.0}
OPP_LOSS_WEIGHTS = (30, 22, 18, 14, 10, 6)  # the default loss reasons, in their order
COMPETITORS = ("Salesforce", "HubSpot", "Pipedrive", "Zoho", "Odoo", "In-house tool")
# Stage-history rows per deal (issue 5: 2,000,000 for 300,000 deals): deals slip back a
# stage now and then; those back-and-forth moves make up the difference to a straight path.
OPP_CHANGES_PER_DEAL = 2_000_000 / 300_000


def _opp_pipelines(world: World, data: OrgData) -> list[tuple]:
    """Three pipelines of six default stages, made through the services (as an admin
    would): [(pipeline, open stages, won stage, lost stage)], plus the loss reasons."""
    from pulse.core.services import record_create
    from pulse.core.tenancy import tenant_context
    from pulse.opportunities.models import LossReason, Pipeline, StageType
    from pulse.opportunities.selectors import pipelines_of
    from pulse.opportunities.services import pipeline_ensure_defaults, stage_create_defaults

    org, actor = data.org, data.users[0]
    with tenant_context(org, actor=actor, source="system"):
        pipeline_ensure_defaults(org=org, actor=actor)
        for position, (name, *_rest) in enumerate(OPP_PIPELINES[1:], start=1):
            pipeline = record_create(Pipeline, org=org, actor=actor, name=name, position=position)
            stage_create_defaults(pipeline=pipeline, actor=actor)
        out = []
        for pipeline in pipelines_of(org):
            stages = pipeline.stage_list
            out.append(
                (
                    pipeline,
                    [s for s in stages if s.type == StageType.OPEN],
                    next(s for s in stages if s.type == StageType.WON),
                    next(s for s in stages if s.type == StageType.LOST),
                )
            )
        reasons = list(
            LossReason.objects.filter(deleted_at__isnull=True)
            .order_by("position")
            .values_list("pk", "name")
        )
    return out, reasons


def _poisson(rng: random.Random, lam: float) -> int:
    """Knuth's method: fine for the small means used here."""
    if lam <= 0:
        return 0
    limit, k, p = pow(2.718281828459045, -lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _opp_path(rng: random.Random, top: int, n_open: int, bounces: int) -> list[int]:
    """Open-stage indices a deal went through: 0 … ``top``, with ``bounces`` detours (a
    step ahead and back, or back and forward again), so the path ends at ``top``."""
    path = list(range(top + 1))
    for _ in range(bounces):
        j = rng.randrange(len(path))
        s = path[j]
        if s + 1 < n_open and (s == 0 or rng.random() < 0.5):
            path[j + 1 : j + 1] = [s + 1, s]
        else:
            path[j + 1 : j + 1] = [s - 1, s]
    return path


def _generate_exchange_rates(world: World, data: OrgData) -> None:
    """Monthly rates of every deal currency other than the organization's, over the
    generated period (two years back from the clock)."""
    from pulse.currencies.models import ExchangeRate

    rng = world.rng
    base = data.org.default_currency
    start = date(world.now.year - 2, world.now.month, 1)
    for currency, _weight in OPP_CURRENCIES:
        if currency == base:
            continue
        rate = OPP_RATES_EUR[currency] / OPP_RATES_EUR.get(base, 1.0)
        day = start
        while day <= world.now.date():
            rate *= 1 + rng.gauss(0, 0.012 if currency != "BGN" else 0.0)
            stamp = datetime(day.year, day.month, day.day, tzinfo=UTC)
            world.loader(ExchangeRate).add(
                {
                    "id": world.uuid(),
                    "organization_id": data.org.pk,
                    "currency": currency,
                    "rate": Decimal(f"{rate:.6f}"),
                    "valid_from": day,
                    "source": "import",
                    "created_by_id": data.users[0].pk,
                    "updated_by_id": data.users[0].pk,
                    "created_at": stamp,
                    "updated_at": stamp,
                }
            )
            day = date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _generate_quotas(world: World, data: OrgData) -> None:
    """Revenue quotas for every member by month, quarter and fiscal year (this year and
    the last), and a team of everyone with quarterly and yearly quotas."""
    from pulse.accounts.models import Team
    from pulse.opportunities.models import Quota

    rng = world.rng
    org_id, actor = data.org.pk, data.users[0].pk
    stamp = datetime(world.now.year - 1, 1, 1, tzinfo=UTC)
    team_id = world.uuid()
    world.loader(Team).add(
        {
            "id": team_id,
            "organization_id": org_id,
            "name": "Sales",
            "manager_id": data.users[min(2, len(data.users) - 1)].pk,
            "created_by_id": actor,
            "updated_by_id": actor,
            "created_at": stamp,
            "updated_at": stamp,
        }
    )
    for user in data.users:
        world.loader(Team.members.through).add({"team_id": team_id, "user_id": user.pk})
    # A seller's monthly target follows their share of the deals (Zipf owners).
    weights = [b - a for a, b in zip([0.0, *data.owner_cum], data.owner_cum, strict=False)]
    total = sum(weights)
    month_total = 2_400_000  # the organization's monthly revenue goal
    rows = []
    for year in (world.now.year - 1, world.now.year):
        for i, user in enumerate(data.users):
            month = max(5000, round(month_total * weights[i] / total * rng.uniform(0.9, 1.2), -3))
            for m in range(1, 13):
                rows.append((user.pk, None, "month", date(year, m, 1), month))
            for q in range(4):
                rows.append((user.pk, None, "quarter", date(year, 3 * q + 1, 1), month * 3))
            rows.append((user.pk, None, "year", date(year, 1, 1), month * 12))
        for q in range(4):
            rows.append((None, team_id, "quarter", date(year, 3 * q + 1, 1), month_total * 3))
        rows.append((None, team_id, "year", date(year, 1, 1), month_total * 12))
    for user_id, team, period, start, target in rows:
        world.loader(Quota).add(
            {
                "id": world.uuid(),
                "organization_id": org_id,
                "user_id": user_id,
                "team_id": team,
                "period": period,
                "period_start": start,
                "metric": "revenue",
                "target": Decimal(target),
                "created_by_id": actor,
                "updated_by_id": actor,
                "created_at": stamp,
                "updated_at": stamp,
            }
        )


def _generate_opportunities(world: World, data: OrgData, count: int) -> int:
    """Deals in three pipelines with their stage history; returns the history row count.

    Closed deals (about 25% won, 30% lost) close over the last two years (more towards
    now) after a log-normal sales cycle; open deals sit mostly in the early stages and
    some have gone quiet for longer than their stage's rotting threshold. Each deal's
    history is a path through its pipeline's stages, ending where the deal is, timed
    between its creation and its close (or its ``stage_changed_at``). Owners are
    Zipf-distributed; values log-normal per pipeline, in several currencies.
    """
    from pulse.opportunities.models import Opportunity, OpportunityStageChange

    if count <= 0:
        return 0
    pipelines, reasons = _opp_pipelines(world, data)
    _generate_exchange_rates(world, data)
    _generate_quotas(world, data)
    rng = world.rng
    now = world.now
    org_id, creator = data.org.pk, data.users[0].pk
    pipe_cum = list(itertools.accumulate(w for _n, w, _v, _t in OPP_PIPELINES))
    outcomes, outcome_cum = _weighted(OPP_OUTCOMES)
    currencies, currency_cum = _weighted(OPP_CURRENCIES)
    sources, source_cum = _weighted(LEAD_SOURCES)
    open_cum = list(itertools.accumulate(OPP_OPEN_AT))
    lost_cum = list(itertools.accumulate(OPP_LOST_FROM))
    reason_cum = list(itertools.accumulate(OPP_LOSS_WEIGHTS[: len(reasons)] or [1]))
    tag_cum = _zipf_cum(len(data.tags), 1.0)
    # Rows a deal's straight path makes (creation + moves), on average: the detours make
    # up the rest of OPP_CHANGES_PER_DEAL, two rows each.
    share = {k: w / outcome_cum[-1] for k, w in OPP_OUTCOMES}
    straight = (
        share["open"] * sum(w * (k + 1) for k, w in enumerate(OPP_OPEN_AT)) / sum(OPP_OPEN_AT)
        + share["won"] * (len(OPP_OPEN_AT) + 1)
        + share["lost"] * sum(w * (k + 2) for k, w in enumerate(OPP_LOST_FROM)) / sum(OPP_LOST_FROM)
    )
    detours = max(0.0, (OPP_CHANGES_PER_DEAL - straight) / 2)
    deals = world.loader(Opportunity)
    history = world.loader(OpportunityStageChange)
    through = Opportunity.tags.through
    two_years = 2 * 365
    written = 0
    for _ in range(count):
        pk = world.uuid()
        p_i = bisect.bisect(pipe_cum, rng.random() * pipe_cum[-1])
        pipeline, open_stages, won, lost = pipelines[p_i]
        _name, _share, median, titles = OPP_PIPELINES[min(p_i, len(OPP_PIPELINES) - 1)]
        n_open = len(open_stages)
        outcome = world.pick(outcomes, outcome_cum)
        bounces = _poisson(rng, detours)
        if outcome == "open":
            top = min(n_open - 1, bisect.bisect(open_cum, rng.random() * open_cum[-1]))
            age = min(two_years, rng.lognormvariate(3.8, 0.9))  # median ~45 days old
            created = now - timedelta(days=age, seconds=rng.randint(0, 86399))
            end = now - timedelta(seconds=rng.randint(0, 6 * 3600))
        else:
            if outcome == "won":
                top = n_open - 1
            else:
                top = min(n_open - 1, bisect.bisect(lost_cum, rng.random() * lost_cum[-1]))
            end = now - timedelta(
                days=rng.triangular(0, two_years, 0), seconds=rng.randint(0, 86399)
            )
            cycle = rng.lognormvariate(3.7 if outcome == "won" else 3.3, 0.7)  # ~40 / 27 days
            created = end - timedelta(days=max(0.5, cycle))
        path = _opp_path(rng, top, n_open, bounces)
        stages = [open_stages[i] for i in path]
        if outcome == "won":
            stages.append(won)
        elif outcome == "lost":
            stages.append(lost)
        # When each move happened: creation first, the rest in order up to the end.
        span = (end - created).total_seconds()
        if outcome == "open":
            times = sorted(rng.random() * span for _ in range(len(stages) - 1))
        else:
            times = sorted(rng.random() * span for _ in range(len(stages) - 2)) + [span]
        moments = [created] + [created + timedelta(seconds=t) for t in times]
        stage = stages[-1]
        entered = moments[-1]
        value = Decimal(max(100, int(rng.lognormvariate(0, 0.9) * median / 10) * 10))
        currency = world.pick(currencies, currency_cum)
        owner = world.pick(data.users, data.owner_cum).pk if rng.random() < 0.97 else None
        probability, custom, category = stage.probability, False, "pipeline"
        loss_reason, competitor, actual = None, "", None
        if outcome == "open":
            if rng.random() < 0.1:
                probability = max(0, min(100, probability + rng.choice((-10, -5, 5, 10, 15))))
                custom = True
            late = path[-1] / max(1, n_open - 1)
            roll = rng.random()
            if roll < 0.5 * late:
                category = "commit"
            elif roll < 0.5 * late + 0.3:
                category = "best_case"
            elif roll > 0.97:
                category = "omitted"
            expected = (now + timedelta(days=rng.triangular(-45, 240, 30))).date()
            quiet = rng.random() < 0.15  # untouched since it entered its stage: may rot
            last_activity = (
                entered if quiet else max(entered, now - timedelta(days=rng.expovariate(1 / 4)))
            )
        else:
            actual = end.date()
            expected = actual + timedelta(days=rng.randint(-20, 30))
            last_activity = end
            if outcome == "won":
                category = "closed"
            else:
                category = "omitted"
                r_i = bisect.bisect(reason_cum, rng.random() * reason_cum[-1])
                loss_reason = reasons[r_i][0]
                if "competitor" in reasons[r_i][1].lower():
                    competitor = rng.choice(COMPETITORS)
        company_i = None
        contact_id = None
        if data.contact_sample and rng.random() < 0.85:
            contact_id, company_i = rng.choice(data.contact_sample)
        if company_i is None and data.company_ids and rng.random() < 0.8:
            company_i = bisect.bisect(data.company_cum, rng.random() * data.company_cum[-1])
        company_name = data.company_names[company_i] if company_i is not None else "Direct"
        deals.add(
            {
                "id": pk,
                "organization_id": org_id,
                "name": f"{company_name}: {rng.choice(titles)}"[:200],
                "description": "",
                "contact_id": contact_id,
                "company_id": data.company_ids[company_i] if company_i is not None else None,
                "pipeline_id": pipeline.pk,
                "stage_id": stage.pk,
                "stage_changed_at": entered,
                "last_activity_at": last_activity,
                "value": value,
                "currency": currency,
                "probability": probability,
                "probability_is_custom": custom,
                "expected_close_date": expected,
                "actual_close_date": actual,
                "status": stage.type,
                "loss_reason_id": loss_reason,
                "competitor": competitor,
                "forecast_category": category,
                "source": world.pick(sources, source_cum) if rng.random() < 0.85 else "",
                "assigned_to_id": owner,
                "created_by_id": creator,
                "updated_by_id": owner or creator,
                "created_at": created,
                "updated_at": max(last_activity, entered),
                "deleted_at": now if rng.random() < 0.003 else None,
                "version": len(stages),
            }
        )
        previous = None
        for i, (to_stage, when) in enumerate(zip(stages, moments, strict=True)):
            history.add(
                {
                    "id": world.uuid(),
                    "organization_id": org_id,
                    "opportunity_id": pk,
                    "pipeline_id": pipeline.pk,
                    "from_stage_id": previous.pk if previous is not None else None,
                    "to_stage_id": to_stage.pk,
                    "seconds_in_from_stage": int((when - moments[i - 1]).total_seconds())
                    if i
                    else None,
                    "value": value,
                    "currency": currency,
                    "changed_by_id": owner or creator,
                    "changed_at": when,
                }
            )
            previous = to_stage
        written += len(stages)
        for tag in {world.pick(data.tags, tag_cum) for _ in range(int(rng.expovariate(2.0)))}:
            world.loader(through).add({"opportunity_id": pk, "tag_id": tag})
    world.loader.flush()
    return written


# --- activities (issue 6) -------------------------------------------------------------------

# (type, share): calls 35 %, emails 25 %, notes 15 %, meetings 15 %, tasks 10 %.
ACT_TYPES = (("call", 35), ("email", 25), ("note", 15), ("meeting", 15), ("task", 10))
ACT_FUTURE = 0.04  # share of the scheduled kinds (calls, meetings, tasks) still ahead
ACT_FUTURE_DAYS = 60
# One extra seller per this many activities: 5,000,000 activities in three years are the
# work of a few hundred people, so a user's calendar week stays what a person can attend.
ACT_PER_SELLER = 6_000
ACT_PRIORITIES = (("normal", 70), ("high", 15), ("low", 10), ("urgent", 5))
ACT_OUTCOMES = (("connected", 45), ("voicemail", 25), ("no_answer", 22), ("busy", 8))
ACT_SUBJECTS = {
    "call": (
        "Discovery call",
        "Follow-up call",
        "Check-in",
        "Pricing discussion",
        "Renewal call",
        "Support escalation",
        "Reference call",
    ),
    "email": (
        "Proposal sent",
        "Re: pricing",
        "Intro and next steps",
        "Contract draft",
        "Meeting recap",
        "Re: onboarding questions",
        "Invoice copy",
    ),
    "note": (
        "Budget confirmed for next quarter",
        "Prefers email over calls",
        "Decision expected after the board meeting",
        "Uses a competitor today",
        "Champion changed roles",
        "Asked for a case study",
    ),
    "meeting": (
        "Product demo",
        "Quarterly business review",
        "Kick-off meeting",
        "Technical deep dive",
        "Contract negotiation",
        "Onboarding workshop",
    ),
    "task": (
        "Send proposal",
        "Prepare the quote",
        "Update the account plan",
        "Send the case study",
        "Book the onsite visit",
        "Review the contract",
    ),
}
ACT_ROOMS = ("Meeting room 1", "Meeting room 2", "Customer office", "Lobby café", "")
ACT_VIDEO = "https://meet.example.com/"


def _activity_sellers(world: World, data: OrgData, count: int) -> tuple[list[int], list[float]]:
    """The activities' owners: the organization's members plus, for a big volume, more
    sales reps (added after every other row, so the other tables stay as they were).
    Zipf-weighted with the members first: the generated owner is the busiest."""
    from django.contrib.auth.hashers import make_password

    from pulse.accounts.models import Membership, Role, User

    extra = count // ACT_PER_SELLER
    owners = [u.pk for u in data.users]
    if extra:
        slug = data.org.slug
        hashed = make_password(PASSWORD)
        users = User.objects.bulk_create(
            [
                User(
                    email=f"seller{i}@{slug}.example",
                    full_name=f"{world.pick(world.pools.first, world.pools.first_cum)}"
                    f" {world.pick(world.pools.last, world.pools.last_cum)}",
                    password=hashed,
                    last_organization_id=data.org.pk,
                )
                for i in range(extra)
            ]
        )
        Membership.objects.unscoped().bulk_create(
            [Membership(organization=data.org, user=u, role=Role.SALES_REP) for u in users]
        )
        owners += [u.pk for u in users]
    return owners, _zipf_cum(len(owners), 0.6)


def _activity_targets(world: World, data: OrgData) -> dict:
    """What activities link to: contacts (with their company; a few of them busy, most
    with a handful), the leads and the deals (with their contact and company)."""
    from pulse.leads.models import Lead
    from pulse.opportunities.models import Opportunity

    rng = world.rng
    contacts = [
        (pk, data.company_ids[ci] if ci is not None else None) for pk, ci in data.contact_sample
    ]
    # Pareto weights, capped: the busiest contacts get a few hundred times the median.
    contact_cum = list(itertools.accumulate(min(300.0, rng.paretovariate(1.3)) for _ in contacts))
    leads = list(
        Lead.objects.unscoped()
        .filter(organization=data.org, deleted_at__isnull=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    deals = list(
        Opportunity.objects.unscoped()
        .filter(organization=data.org, deleted_at__isnull=True)
        .order_by("pk")
        .values_list("pk", "contact_id", "company_id")
    )
    return {"contacts": contacts, "contact_cum": contact_cum, "leads": leads, "deals": deals}


def _at_nine(day: date, tz) -> datetime:
    """A task's timeline moment (``services.occurred_at_of``): 09:00 on its due day."""
    return datetime.combine(day, datetime.min.time().replace(hour=9), tzinfo=tz)


def _working_time(rng: random.Random, moment: datetime, now: datetime) -> datetime:
    """The same day between 08:00 and 17:45 on a quarter hour (meetings, calls); a past
    one stays in the past (the day before, when today's slot is still ahead)."""
    slot = moment.replace(
        hour=rng.randint(8, 17), minute=rng.choice((0, 15, 30, 45)), second=0, microsecond=0
    )
    if moment <= now < slot:
        slot -= timedelta(days=1)
    return slot


def _generate_activities(world: World, data: OrgData, count: int) -> None:
    """Calls, emails, notes, meetings and tasks over three years (growing towards today),
    a few percent scheduled ahead. Statuses follow the dates (what is past is mostly done,
    some tasks overdue, some meetings cancelled; what is ahead is pending), and
    ``occurred_at`` is what ``services.occurred_at_of`` computes. Most concern a contact
    (and its company), some a lead or a deal (with the deal's contact and company)."""
    from pulse.activities.models import Activity

    if count <= 0:
        return
    owners, owner_cum = _activity_sellers(world, data, count)
    targets = {**_activity_targets(world, data), "owners": owners, "owner_cum": owner_cum}
    if not _parallel_ok(count):
        _write_activities(world, data, targets, count)
        world.loader.flush()
        return
    # Big loads: chunks of a fixed size, each from its own seed drawn here (so a seed
    # still gives the same rows, whatever the number of processes), written by forked
    # processes side by side: generating rows is Python-bound, one core each.
    world.loader.flush()
    sizes = [min(ACT_CHUNK, count - start) for start in range(0, count, ACT_CHUNK)]
    chunks = [(world.rng.getrandbits(64), n) for n in sizes]
    global _FORKED
    _FORKED = (world, data, targets)
    _let_go_of_database()  # each child opens its own
    try:
        with multiprocessing.get_context("fork").Pool(ACT_PROCESSES) as pool:
            written = sum(pool.map(_activity_chunk, chunks))
    finally:
        _FORKED = None
        _replica_again()
    world.loader.add_written(Activity, written)


def _let_go_of_database() -> None:
    """Close this process's connections and its psycopg pool, whose sockets and threads
    a forked child must not share."""
    from django.db import connections

    for conn in connections.all(initialized_only=True):
        conn.close()
        if hasattr(conn, "close_pool"):
            conn.close_pool()


def _parallel_ok(count: int) -> bool:
    from django.db import connection

    return (
        count >= ACT_CHUNK
        and connection.vendor == "postgresql"
        and not connection.in_atomic_block  # a child could not see uncommitted rows
    )


def _activity_chunk(chunk: tuple[int, int]) -> int:
    """One chunk of activities, in a forked process with its own connection."""
    from .loader import Loader

    seed, count = chunk
    world, data, targets = _FORKED
    _replica_again()

    mine = World(rng=random.Random(seed), pools=world.pools, now=world.now, loader=Loader())
    _write_activities(mine, data, targets, count)
    mine.loader.flush()
    _let_go_of_database()
    return count


def _write_activities(world: World, data: OrgData, targets: dict, count: int) -> None:
    from django.utils import timezone

    from pulse.activities.models import Activity

    rng = world.rng
    now = world.now
    tz = timezone.get_current_timezone()
    owners, owner_cum = targets["owners"], targets["owner_cum"]
    contacts, contact_cum = targets["contacts"], targets["contact_cum"]
    leads, deals = targets["leads"], targets["deals"]
    types, type_cum = _weighted(ACT_TYPES)
    priorities, priority_cum = _weighted(ACT_PRIORITIES)
    outcomes, outcome_cum = _weighted(ACT_OUTCOMES)
    free, free_cum = _weighted(FREE_MAIL)
    writer = world.loader(Activity)
    org_id = data.org.pk
    own_domain = f"{data.org.slug}.example"
    for _ in range(count):
        pk = world.uuid()
        kind = world.pick(types, type_cum)
        owner = owners[bisect.bisect(owner_cum, rng.random() * owner_cum[-1])]
        # What it concerns.
        roll = rng.random()
        contact_id = company_id = lead_id = deal_id = None
        if roll < 0.12 and deals:
            deal_id, contact_id, company_id = rng.choice(deals)
        elif roll < 0.20 and leads:
            lead_id = rng.choice(leads)
        elif roll < 0.96 and contacts:
            contact_id, company_id = contacts[
                bisect.bisect(contact_cum, rng.random() * contact_cum[-1])
            ]
        elif data.company_ids:
            company_id = data.company_ids[
                bisect.bisect(data.company_cum, rng.random() * data.company_cum[-1])
            ]
        future = kind in ("call", "meeting", "task") and rng.random() < ACT_FUTURE
        if future:
            when = now + timedelta(days=rng.random() * ACT_FUTURE_DAYS)
            created = now - timedelta(days=rng.random() * 20, seconds=rng.randint(0, 86399))
        else:
            when = world.created_at()
            created = when
        status, scheduled, duration, due, completed = "completed", None, None, None, None
        direction = outcome = location = video = email_from = email_to = message_id = ""
        thread_id = ical_uid = ""
        if kind == "call":
            duration = rng.randint(2, 40)
            if future:
                status, scheduled = "pending", _working_time(rng, when, now)
            elif rng.random() < 0.3:  # booked ahead, then made
                scheduled = _working_time(rng, when, now)
                created = scheduled - timedelta(days=rng.random() * 10)
                completed = scheduled + timedelta(minutes=duration)
            else:  # logged right after it was made
                completed = when
            if status == "completed":
                direction = "outbound" if rng.random() < 0.75 else "inbound"
                outcome = world.pick(outcomes, outcome_cum)
                if outcome != "connected":
                    duration = 1
        elif kind == "email":
            completed = when
            inbound = rng.random() < 0.4
            person = f"{world.pick(world.pools.first, world.pools.first_cum)}".lower()
            theirs = f"{_slug(person) or 'contact'}@{world.pick(free, free_cum)}"
            mine = f"user{owner}@{own_domain}"
            email_from, email_to = (theirs, mine) if inbound else (mine, theirs)
            message_id = f"<{pk.hex}@{own_domain}>"
            thread_id = message_id if rng.random() < 0.6 else f"<{world.uuid().hex}@{own_domain}>"
        elif kind == "note":
            completed = when
        elif kind == "meeting":
            scheduled = _working_time(rng, when, now)
            duration = rng.choice((30, 30, 45, 60, 60, 90))
            created = min(created, scheduled - timedelta(days=rng.random() * 14))
            ical_uid = f"{pk}@pulsecrm"
            if rng.random() < 0.45:
                video = f"{ACT_VIDEO}{pk.hex[:10]}"
            else:
                location = rng.choice(ACT_ROOMS)
            if not future:
                fate = rng.random()
                if fate < 0.88:
                    completed = scheduled + timedelta(minutes=duration)
                elif fate < 0.95:
                    status = "cancelled"
                else:
                    status = "pending"  # never closed: overdue
            else:
                status = "pending"
        else:  # task
            due = (when + timedelta(days=rng.randint(0, 3))).date()
            created = min(created, when - timedelta(days=rng.random() * 7))
            fate = rng.random()
            if future or fate >= 0.88:
                status = "pending"  # ahead, or overdue
            elif fate < 0.85:
                completed = min(now, _at_nine(due, tz) + timedelta(hours=rng.uniform(-30, 8)))
                completed = max(completed, created)
            else:
                status = "cancelled"
        if scheduled is not None:
            occurred = scheduled
        elif due is not None:
            occurred = _at_nine(due, tz)
        elif completed is not None:
            occurred = completed
        else:
            occurred = created
        updated = max(created, completed) if completed else created
        writer.add(
            {
                "id": pk,
                "organization_id": org_id,
                "type": kind,
                "subject": rng.choice(ACT_SUBJECTS[kind]),
                "status": status,
                "priority": world.pick(priorities, priority_cum),
                "scheduled_at": scheduled,
                "duration_minutes": duration,
                "all_day": False,
                "due_date": due,
                "completed_at": completed,
                "occurred_at": occurred,
                "assigned_to_id": owner,
                "contact_id": contact_id,
                "company_id": company_id,
                "lead_id": lead_id,
                "opportunity_id": deal_id,
                "call_direction": direction,
                "call_outcome": outcome,
                "location": location,
                "video_url": video,
                "email_from": email_from,
                "email_to": email_to,
                "message_id": message_id,
                "thread_id": thread_id,
                "ical_uid": ical_uid,
                "created_by_id": owner,
                "updated_by_id": owner,
                "created_at": created,
                "updated_at": updated,
                "deleted_at": now if rng.random() < 0.003 else None,
                "version": 1 if updated == created else 2,
            }
        )


@contextlib.contextmanager
def _bulk_load(models_, *, when: bool, out=print):
    """On PostgreSQL, load the given tables the way a restore does: their secondary
    indexes dropped and built again afterwards (one sort each instead of millions of
    random inserts into B-trees and a trigram GIN), and foreign-key triggers off for this
    session (``session_replication_role = replica``; the generator writes consistent
    rows, and the tests check that it does). The primary keys and unique constraints
    stay. Indexes and triggers come back even if the load fails. Without superuser
    rights the triggers simply stay on."""
    from django.db import connection

    global _REPLICA
    if not when or connection.vendor != "postgresql":
        yield
        return
    tables = []
    for model in models_:
        tables.append(model._meta.db_table)
        tables.extend(t._meta.db_table for t in _m2m_throughs(model))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = ANY(%s)"
            " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
            [tables],
        )
        saved = cursor.fetchall()
        for name, _definition in saved:
            cursor.execute(f"DROP INDEX IF EXISTS {connection.ops.quote_name(name)}")
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        _REPLICA = bool(cursor.fetchone()[0])
    _replica_again()
    try:
        yield
    finally:
        started = time.perf_counter()
        replica, _REPLICA = _REPLICA, False
        with connection.cursor() as cursor:
            if replica:
                cursor.execute("SET session_replication_role = DEFAULT")
            cursor.execute("SET maintenance_work_mem = '1GB'")
            cursor.execute("SET max_parallel_maintenance_workers = 2")
            for _name, definition in saved:
                cursor.execute(definition.replace("CREATE INDEX", "CREATE INDEX IF NOT EXISTS", 1))
            cursor.execute("RESET maintenance_work_mem")
            cursor.execute("RESET max_parallel_maintenance_workers")
        out(f"indexes: {len(saved)} built again in {time.perf_counter() - started:.1f} s")


def _replica_again() -> None:
    """Foreign-key triggers off on this process's connection, while a bulk load runs (a
    new connection, a forked child's, starts with them on)."""
    from django.db import connection

    if _REPLICA:
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = replica")


def bench_org_slugs() -> tuple[str, ...]:
    return (BIG_ORG_SLUG, *SMALL_ORGS)


def reset() -> None:
    """Remove an earlier generated set (its organizations, their rows and their users)."""
    from django.db import connection, transaction

    from pulse.accounts.models import Organization, User

    orgs = list(
        Organization.objects.filter(slug__in=bench_org_slugs()).values_list("pk", flat=True)
    )
    if not orgs:
        return
    if connection.vendor == "postgresql":
        in_orgs, params = "= ANY(%s)", [orgs]
    else:
        in_orgs, params = f"IN ({','.join('%s' for _ in orgs)})", [o.hex for o in orgs]
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        existing = set(connection.introspection.table_names(cursor))
        models_ = [m for m in _tenant_models_leaf_first() if m._meta.db_table in existing]
        for model in models_:
            for through in _m2m_throughs(model):
                if through._meta.db_table not in existing:
                    continue
                cursor.execute(
                    f"DELETE FROM {through._meta.db_table} WHERE {_through_column(through, model)}"
                    f" IN (SELECT id FROM {model._meta.db_table} WHERE organization_id {in_orgs})",
                    params,
                )
        for model in models_:
            cursor.execute(
                f"DELETE FROM {model._meta.db_table} WHERE organization_id {in_orgs}", params
            )
        user_ids = list(
            User.objects.filter(memberships__isnull=True, last_organization__in=orgs).values_list(
                "pk", flat=True
            )
        )
        # Raw deletes: the ORM's cascade would also visit tables of apps not migrated here.
        user_marks = ",".join("%s" for _ in user_ids) or "NULL"
        cursor.execute(f"DELETE FROM accounts_user WHERE id IN ({user_marks})", user_ids)
        cursor.execute(f"DELETE FROM accounts_organization WHERE id {in_orgs}", params)


def _tenant_models_leaf_first() -> list:
    from django.apps import apps

    from pulse.core.models import TenantScopedModel

    tenant = [
        m
        for m in apps.get_models()
        if issubclass(m, TenantScopedModel) and not m._meta.proxy and m._meta.managed
    ]
    # Children before the rows they point at; the bench tables are few, so a simple
    # "models referencing others last-deleted" order suffices (constraints are deferred).
    return sorted(tenant, key=lambda m: -len([f for f in m._meta.concrete_fields if f.is_relation]))


def _m2m_throughs(model) -> list:
    return [
        f.remote_field.through
        for f in model._meta.local_many_to_many
        if f.remote_field.through._meta.auto_created
    ]


def _through_column(through, model) -> str:
    for f in through._meta.concrete_fields:
        if f.is_relation and f.related_model is model:
            return f.column
    raise LookupError(model)


@dataclass
class Summary:
    size: str
    seed: int
    contacts: int
    companies: int
    seconds: float
    rows: dict[str, int]


def generate(
    *,
    size: str = "small",
    seed: int = 1,
    contacts: int | None = None,
    companies: int | None = None,
    leads: int | None = None,
    opportunities: int | None = None,
    activities: int | None = None,
    do_reset: bool = False,
    bulk: bool | None = None,
    out=print,
) -> Summary:
    """Fill the database; returns what was written and how long it took."""
    from django.db import connection

    from pulse.accounts.models import Organization
    from pulse.activities.models import Activity
    from pulse.contacts.models import Company, Contact
    from pulse.leads.models import Lead
    from pulse.opportunities.models import Opportunity, OpportunityStageChange, Quota

    from .loader import Loader, analyze

    n_contacts, n_companies = SIZES[size]
    n_contacts = contacts if contacts is not None else n_contacts
    n_companies = companies if companies is not None else n_companies
    n_leads = leads if leads is not None else LEADS[size]
    n_opps = opportunities if opportunities is not None else OPPORTUNITIES[size]
    n_acts = activities if activities is not None else ACTIVITIES[size]
    started = time.perf_counter()
    if do_reset:
        reset()
        out(f"reset: {time.perf_counter() - started:.1f} s")
    elif Organization.objects.filter(slug__in=bench_org_slugs()).exists():
        raise SystemExit("A generated set is already here: add --reset to replace it.")
    rng = random.Random(seed)
    loader = Loader()
    world = World(
        rng=rng,
        pools=Pools.build(rng),
        now=CLOCK,
        loader=loader,
    )
    plan = [(BIG_ORG_SLUG, "Bench Big Corp", 25, n_contacts, n_companies)] + [
        (
            slug,
            f"Bench Small {i + 1}",
            3,
            max(1, n_contacts // SMALL_ORG_SHARE),
            max(1, n_companies // SMALL_ORG_SHARE),
        )
        for i, slug in enumerate(SMALL_ORGS)
    ]
    if bulk is None:
        bulk = n_contacts + n_leads + n_opps + n_acts >= BULK_LOAD_FROM
    bulk_models = [Company, Contact, Lead, Opportunity, OpportunityStageChange, Activity]
    with _bulk_load(bulk_models, when=bulk, out=out):
        generated: list[OrgData] = []
        for slug, name, members, org_contacts, org_companies in plan:
            step = time.perf_counter()
            data = _make_org(world, slug, name, members)
            generated.append(data)
            _make_tags_and_fields(world, data, 30 if slug == BIG_ORG_SLUG else 8)
            _generate_companies(world, data, org_companies)
            out(f"{slug}: {org_companies:,} companies in {time.perf_counter() - step:.1f} s")
            step = time.perf_counter()
            _generate_contacts(world, data, org_contacts)
            out(f"{slug}: {org_contacts:,} contacts in {time.perf_counter() - step:.1f} s")
            step = time.perf_counter()
            org_leads = n_leads if slug == BIG_ORG_SLUG else n_leads // SMALL_ORG_SHARE
            _generate_leads(world, data, org_leads)
            out(f"{slug}: {org_leads:,} leads in {time.perf_counter() - step:.1f} s")
            step = time.perf_counter()
            org_opps = n_opps if slug == BIG_ORG_SLUG else n_opps // SMALL_ORG_SHARE
            changes = _generate_opportunities(world, data, org_opps)
            out(
                f"{slug}: {org_opps:,} opportunities, {changes:,} stage changes"
                f" in {time.perf_counter() - step:.1f} s"
            )
        loader.flush()
        # Activities last (their owners and links are all there by now; the other tables stay
        # what the same seed gave before activities existed).
        for data in generated:
            org_step = time.perf_counter()
            org_acts = n_acts if data.org.slug == BIG_ORG_SLUG else n_acts // SMALL_ORG_SHARE
            _generate_activities(world, data, org_acts)
            took = time.perf_counter() - org_step
            out(f"{data.org.slug}: {org_acts:,} activities in {took:.1f} s")
        loader.flush()
    step = time.perf_counter()
    analyze(
        [
            Activity,
            Company,
            Contact,
            Contact.tags.through,
            Company.tags.through,
            Lead,
            Lead.tags.through,
            Opportunity,
            Opportunity.tags.through,
            OpportunityStageChange,
            Quota,
        ]
    )
    out(f"analyze: {time.perf_counter() - step:.1f} s ({connection.vendor})")
    seconds = time.perf_counter() - started
    summary = Summary(
        size=size,
        seed=seed,
        contacts=n_contacts,
        companies=n_companies,
        seconds=round(seconds, 1),
        rows=loader.counts(),
    )
    out(f"done in {seconds:.1f} s: {summary.rows}")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench generate", description=__doc__)
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--contacts", type=int, help="override the preset's contact count")
    parser.add_argument("--companies", type=int, help="override the preset's company count")
    parser.add_argument(
        "--leads", type=int, help="override the preset's lead count (large: 200,000)"
    )
    parser.add_argument(
        "--opportunities",
        type=int,
        help="override the preset's opportunity count (large: 300,000, with ~2,000,000"
        " stage changes)",
    )
    parser.add_argument(
        "--activities",
        type=int,
        help="override the preset's activity count (small 50,000, medium 500,000, large 5,000,000)",
    )
    parser.add_argument("--reset", action="store_true", help="remove an earlier generated set")
    args = parser.parse_args(argv)
    setup_django()
    # A fresh database (createdb bench) needs the tables first.
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    summary = generate(
        size=args.size,
        seed=args.seed,
        contacts=args.contacts,
        companies=args.companies,
        leads=args.leads,
        opportunities=args.opportunities,
        activities=args.activities,
        do_reset=args.reset,
        out=lambda line: print(line, flush=True),
    )
    # Kept for ``python -m bench``, which shows the latest load time against issue 8's
    # 20 minutes.
    from django.db import connection

    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS_DIR / f"generate-{stamp}.json").write_text(
        json.dumps(
            {"kind": "generate", "at": stamp, "vendor": connection.vendor, **asdict(summary)}
        )
    )
    return 0
