"""``manage.py seed_demo``: a realistic demo organization to click through.

Northwind Traders (EUR, Europe/Sofia) with a team of seven people in every role, two
teams, tags, custom fields, ~60 companies (some in hierarchies), ~300 contacts and a
few notifications; plus Globex Labs, where the demo owner is also a member, so the
organization switcher has something to switch to.

Everything is created through the services inside ``tenant_context(..., source="system")``
so the change log, the History tabs and the home feed are alive. Idempotent: when the
demo organization exists (by slug) nothing changes. Reproducible: a fixed random seed.
"""

from __future__ import annotations

import datetime
import random
import unicodedata
from decimal import Decimal

from django.contrib.auth.hashers import make_password
from django.contrib.contenttypes.models import ContentType
from django.core.management.base import BaseCommand
from django.db import transaction
from django.test.utils import override_settings
from django.utils import timezone

from pulse.accounts.models import Membership, Organization, RecordVisibility, Role, User
from pulse.accounts.services import organization_signup, organization_update, team_create
from pulse.contacts.models import Company, Contact
from pulse.contacts.services import company_create, contact_create, contact_relationship_create
from pulse.core.services import record_create
from pulse.core.tenancy import tenant_context
from pulse.extras.models import Notification
from pulse.extras.services import (
    customfield_create,
    notification_mark_read,
    savedview_create,
    tag_create,
)

DEMO_SLUG = "northwind-traders"
DEMO_PASSWORD = "pulse-demo-2026"
SEED = 2026

PEOPLE = [
    # (email, full name, role)
    ("admin@pulsecrm.local", "Ivan Petrov", Role.ADMIN),
    ("manager@pulsecrm.local", "Maria Georgieva", Role.MANAGER),
    ("rep1@pulsecrm.local", "Nikolay Ivanov", Role.SALES_REP),
    ("rep2@pulsecrm.local", "Elena Dimitrova", Role.SALES_REP),
    ("support@pulsecrm.local", "Georgi Stoyanov", Role.SUPPORT_AGENT),
    ("viewer@pulsecrm.local", "Petra Nikolova", Role.READ_ONLY),
]

TAGS = [
    ("VIP", "#dc3545"),
    ("Key account", "#6f42c1"),
    ("Partner", "#0d6efd"),
    ("Reseller", "#0dcaf0"),
    ("Newsletter", "#20c997"),
    ("Webinar 2026", "#198754"),
    ("Trade show", "#fd7e14"),
    ("Decision maker", "#d63384"),
    ("Technical", "#6c757d"),
    ("Churn risk", "#b02a37"),
    ("Upsell", "#ffc107"),
    ("Cold", "#adb5bd"),
]

# (country, cities, phone prefix)
PLACES = [
    ("BG", ["Sofia", "Plovdiv", "Varna", "Burgas", "Ruse"], "+359"),
    ("DE", ["Berlin", "Munich", "Hamburg", "Cologne"], "+49"),
    ("GB", ["London", "Manchester", "Leeds", "Bristol"], "+44"),
    ("FR", ["Paris", "Lyon", "Toulouse"], "+33"),
    ("NL", ["Amsterdam", "Rotterdam", "Utrecht"], "+31"),
    ("RO", ["Bucharest", "Cluj-Napoca", "Iași"], "+40"),
    ("GR", ["Athens", "Thessaloniki"], "+30"),
    ("AT", ["Vienna", "Graz"], "+43"),
    ("PL", ["Warsaw", "Kraków", "Wrocław"], "+48"),
    ("US", ["New York", "Chicago", "Austin", "Seattle"], "+1"),
]

COUNTRY_WORDS = {"BG": "Bulgaria", "DE": "Germany", "US": "US", "RO": "Romania", "GR": "Greece"}

STREETS = [
    "Vitosha Blvd",
    "Tsarigradsko Shose",
    "Rakovski St",
    "Hauptstraße",
    "High Street",
    "Rue de la Paix",
    "Keizersgracht",
    "Calea Victoriei",
    "Ermou St",
    "Main Street",
    "Market Square",
    "Station Road",
]

INDUSTRIES = [
    "Software",
    "Logistics",
    "Food & beverage",
    "Manufacturing",
    "Retail",
    "Financial services",
    "Healthcare",
    "Energy",
    "Education",
    "Hospitality",
    "Construction",
    "Media",
]

# Parent companies with their subsidiaries: hierarchies on the company pages.
GROUPS = {
    "Contoso Group": {"Contoso Europe": ["Contoso Bulgaria", "Contoso Germany"], "Contoso US": []},
    "Fabrikam Holdings": {"Fabrikam Retail": [], "Fabrikam Manufacturing": []},
    "Woodgrove Financial": {"Woodgrove Bank": [], "Woodgrove Insurance": []},
    "Balkan Freight Group": {"Balkan Freight Romania": [], "Balkan Freight Greece": []},
}

COMPANY_NAMES = [
    "Adventure Works",
    "Alpine Ski House",
    "Blue Yonder Airlines",
    "Coho Winery",
    "Danube Logistics",
    "Fourth Coffee",
    "Graphic Design Institute",
    "Humongous Insurance",
    "Litware",
    "Lucerne Publishing",
    "Margie's Travel",
    "Pirin Pharma",
    "Proseware",
    "Rila Software",
    "Black Sea Shipping",
    "Southridge Video",
    "Tailspin Toys",
    "Trey Research",
    "Vitosha Foods",
    "Wide World Importers",
    "Wingtip Toys",
    "Stara Planina Energy",
    "Strandzha Organics",
    "Rhodope Dairy",
    "Thracian Vineyards",
    "Iskar Engineering",
    "Maritsa Textiles",
    "Struma Construction",
    "Arda Hotels",
    "Osogovo Timber",
    "Nordlicht Maschinenbau",
    "Havel Datensysteme",
    "Thames Analytics",
    "Pennine Outdoor",
    "Loire Cosmétiques",
    "Garonne Aéro",
    "Zuiderzee Bikes",
    "Carpathian Timber",
    "Aegean Olive Co",
    "Wiener Kaffeehaus",
    "Vistula Robotics",
    "Hudson Media",
    "Lone Star Solar",
    "Cascade Health",
]

FIRST_NAMES = [
    "Aleksandar", "Borislava", "Dimitar", "Desislava", "Hristo", "Iva", "Kaloyan", "Mila",
    "Radoslav", "Svetla", "Todor", "Vesela", "Yordan", "Zornitsa", "Anna", "Lukas", "Sophie",
    "Jonas", "Emma", "Oliver", "Charlotte", "James", "Amelia", "Louis", "Camille", "Hugo",
    "Léa", "Daan", "Sanne", "Andrei", "Ioana", "Nikos", "Eleni", "Tobias", "Lena", "Jakub",
    "Zofia", "Michael", "Sarah", "David", "Emily", "Daniel", "Olivia", "Marco", "Giulia",
    "Carlos", "Lucía", "Mateusz", "Katarzyna", "Stefan",
]  # fmt: skip

LAST_NAMES = [
    "Angelov", "Borisova", "Vasilev", "Georgiev", "Dimitrova", "Kolev", "Marinova", "Nikolov",
    "Petkova", "Todorov", "Hristova", "Yankov", "Müller", "Schmidt", "Fischer", "Weber",
    "Smith", "Jones", "Taylor", "Brown", "Wilson", "Martin", "Bernard", "Dubois", "de Vries",
    "Jansen", "Popescu", "Ionescu", "Papadopoulos", "Georgiou", "Gruber", "Huber", "Nowak",
    "Kowalska", "Johnson", "Williams", "Garcia", "Rossi", "Bianchi", "Fernández", "Lewandowski",
    "Kovačević", "Ivanova", "Stoyanov", "Pavlova",
]  # fmt: skip

TITLES = [
    ("Chief Executive Officer", "Management"),
    ("Chief Financial Officer", "Finance"),
    ("Chief Technology Officer", "Engineering"),
    ("Head of Procurement", "Procurement"),
    ("Procurement Manager", "Procurement"),
    ("IT Manager", "IT"),
    ("Operations Director", "Operations"),
    ("Marketing Manager", "Marketing"),
    ("Sales Director", "Sales"),
    ("Office Manager", "Administration"),
    ("Software Engineer", "Engineering"),
    ("Financial Controller", "Finance"),
    ("Logistics Coordinator", "Operations"),
    ("Customer Service Lead", "Support"),
    ("HR Business Partner", "People"),
]

STAGE_WEIGHTS = [
    ("subscriber", 10),
    ("lead", 30),
    ("marketing_qualified", 15),
    ("sales_qualified", 12),
    ("opportunity", 10),
    ("customer", 18),
    ("evangelist", 3),
    ("other", 2),
]
SOURCES = ["web", "referral", "event", "campaign", "social", "import", "manual", "other"]
CONSENTS = ["opted_in", "opted_in", "unknown", "unknown", "opted_out"]

NOTES = [
    "Met at the Sofia logistics expo; wants a demo for the warehouse team.",
    "Prefers email over calls. Budget decided in Q3.",
    "Asked about integration with their ERP. Follow up with the technical sheet.",
    "Renewal coming up; happy with support response times.",
    "Referred by a partner. Interested in the premium tier.",
    "",
    "",
    "",
]


class Command(BaseCommand):
    help = "Create the Northwind Traders demo organization (idempotent)."

    def handle(self, *args, **options):
        started = timezone.now()
        if Organization.objects.filter(slug=DEMO_SLUG).exists():
            self.stdout.write("The demo organization already exists; nothing to do.")
        else:
            self.rng = random.Random(SEED)
            # Demo people have made-up addresses (double opt-in confirmations, invitations):
            # whatever the demo "sends" stays in memory, even with a real EMAIL_URL set.
            with (
                override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"),
                transaction.atomic(),  # one transaction: fast on SQLite, all or nothing
            ):
                org, owner, people, records = self._seed()
                with tenant_context(org, actor=owner, source="system"):
                    self._notifications(org, owner, people, *records)
            took = (timezone.now() - started).total_seconds()
            self.stdout.write(self.style.SUCCESS(f"Demo data created in {took:.1f} s."))
        self._print_logins()

    # --- people and organizations -----------------------------------------------------------

    def _seed(self) -> None:
        owner, org = organization_signup(
            email="demo@pulsecrm.local",
            full_name="Diana Demo",
            password=DEMO_PASSWORD,
            organization_name="Northwind Traders",
        )
        org = organization_update(
            organization=org,
            actor=owner,
            default_currency="EUR",
            country="BG",
            time_zone="Europe/Sofia",
            date_format="d.m.Y",
            record_visibility=RecordVisibility.ALL,
        )
        # One hash for every demo account: hashing is deliberately slow.
        password_hash = make_password(DEMO_PASSWORD)
        people = {"owner": owner}
        with tenant_context(org, actor=owner, source="system"):
            for email, full_name, role in PEOPLE:
                user = self._user(email, full_name, password_hash)
                record_create(Membership, org=org, actor=owner, user=user, role=role)
                people[role] = people.get(role) or user
                people[email.split("@")[0]] = user
            team_create(
                org=org,
                actor=owner,
                name="Enterprise Sales",
                manager=people["manager"],
                members=[people["rep1"], people["rep2"]],
            )
            team_create(
                org=org,
                actor=owner,
                name="Customer Success",
                manager=people["admin"],
                members=[people["support"]],
            )
            records = self._records(org, owner, people)
            from pulse.leads import demo as leads_demo
            from pulse.privacy import demo as privacy_demo
            from pulse.segments import demo as segments_demo

            segments_demo.seed(org, people, self.rng)
            privacy_demo.seed(org, people, self.rng)
            leads_demo.seed(org, people, self.rng)
            from pulse.opportunities import demo as opportunities_demo

            opportunities_demo.seed(org, people, self.rng)
            from pulse.activities import demo as activities_demo

            activities_demo.seed(org, people, self.rng)
            from pulse.reports import demo as reports_demo

            reports_demo.seed(org, people, self.rng)
        self._second_organization(owner)
        return org, owner, people, records

    def _user(self, email: str, full_name: str, password_hash: str) -> User:
        user = User.objects.create_user(email=email, full_name=full_name, password=None)
        User.objects.filter(pk=user.pk).update(password=password_hash)
        return user

    def _second_organization(self, demo_owner: User) -> None:
        founder, org = organization_signup(
            email="hank@globex.example",
            full_name="Hank Scorpio",
            password=DEMO_PASSWORD,
            organization_name="Globex Labs",
        )
        org = organization_update(
            organization=org,
            actor=founder,
            default_currency="USD",
            country="US",
            time_zone="America/Chicago",
        )
        with tenant_context(org, actor=founder, source="system"):
            record_create(Membership, org=org, actor=founder, user=demo_owner, role=Role.ADMIN)
            labs = company_create(
                org=org, actor=founder, name="Globex Research", website="globex-research.example"
            )
            for first, last, title in [
                ("Frank", "Grimes", "Safety Inspector"),
                ("Lisa", "Simpson", "Research Fellow"),
                ("Waylon", "Smithers", "Executive Assistant"),
            ]:
                contact_create(
                    org=org,
                    actor=founder,
                    first_name=first,
                    last_name=last,
                    title=title,
                    email=f"{first.lower()}.{last.lower()}@globex-research.example",
                    company=labs,
                    lifecycle_stage="customer",
                )

    # --- the business records ----------------------------------------------------------------

    def _records(self, org, owner, people) -> None:
        rng = self.rng
        tags = [tag_create(org=org, actor=owner, name=n, color=c) for n, c in TAGS]
        self._custom_fields(org, owner)
        sellers = [people["rep1"], people["rep1"], people["rep2"], people["rep2"]]
        sellers += [people["manager"], people["owner"], people["support"]]

        companies: list[Company] = []
        for group, subsidiaries in GROUPS.items():
            top = self._company(org, owner, group, rng.choice(sellers), tags)
            companies.append(top)
            for name, children in subsidiaries.items():
                middle = self._company(org, owner, name, rng.choice(sellers), tags, parent=top)
                companies.append(middle)
                for child in children:
                    companies.append(
                        self._company(org, owner, child, rng.choice(sellers), tags, parent=middle)
                    )
        for name in COMPANY_NAMES:
            companies.append(self._company(org, owner, name, rng.choice(sellers), tags))

        contacts: list[Contact] = []
        used_emails: set[str] = set()
        for _ in range(300):
            company = rng.choice(companies) if rng.random() < 0.88 else None
            contacts.append(self._contact(org, owner, company, sellers, tags, used_emails))
        self._relationships(org, owner, contacts)

        self._backdate(companies, contacts)
        self._saved_views(org, owner)
        return contacts, companies

    def _custom_fields(self, org, owner) -> None:
        contact_type = ContentType.objects.get_for_model(Contact)
        company_type = ContentType.objects.get_for_model(Company)
        for content_type, key, label, field_type, choices in [
            (
                contact_type,
                "customer_tier",
                "Customer tier",
                "choice",
                ["Bronze", "Silver", "Gold"],
            ),  # noqa: E501
            (contact_type, "nps_score", "NPS score", "number", None),
            (company_type, "renewal_date", "Renewal date", "date", None),
            (company_type, "account_tier", "Account tier", "choice", ["Standard", "Premium"]),
            (company_type, "support_contract", "Support contract", "boolean", None),
        ]:
            customfield_create(
                org=org,
                actor=owner,
                content_type=content_type,
                key=key,
                label=label,
                field_type=field_type,
                choices=choices,
            )

    def _company(self, org, owner, name, seller, tags, parent=None) -> Company:
        rng = self.rng
        country, cities, prefix = rng.choice(PLACES)
        for place in PLACES:  # "Contoso Bulgaria" is in Bulgaria
            if name.endswith(COUNTRY_WORDS.get(place[0], "-")):
                country, cities, prefix = place
        industry = rng.choice(INDUSTRIES)
        slug = "".join(ch if ch.isalnum() else "-" for ch in name.lower()).strip("-")
        slug = "-".join(part for part in slug.split("-") if part)
        revenue = Decimal(rng.randrange(200, 90_000)) * 1000 if rng.random() < 0.8 else None
        custom = {"account_tier": rng.choice(["Standard", "Premium"])}
        if rng.random() < 0.6:
            renewal = datetime.date(2026, 1, 1) + datetime.timedelta(days=rng.randrange(0, 540))
            custom["renewal_date"] = renewal.isoformat()
        if rng.random() < 0.7:
            custom["support_contract"] = rng.random() < 0.6
        return company_create(
            org=org,
            actor=owner,
            name=name,
            website=f"https://www.{slug}.example",
            industry=industry,
            size_band=rng.choice(["1-10", "11-50", "51-200", "201-500", "501-1000", "1001-5000"]),
            annual_revenue=revenue,
            currency="EUR" if revenue is not None else "",
            phone=self._phone(prefix),
            street=f"{rng.randrange(1, 180)} {rng.choice(STREETS)}",
            city=rng.choice(cities),
            postal_code=str(rng.randrange(1000, 99999)),
            country=country,
            territory="Domestic" if country == "BG" else "International",
            description=f"{name}: {industry.lower()}, serving customers across the region.",
            parent=parent,
            assigned_to=seller,
            tags=rng.sample(tags, rng.choice([0, 0, 1, 1, 2])),
            custom_fields=custom,
        )

    def _contact(self, org, owner, company, sellers, tags, used_emails) -> Contact:
        rng = self.rng
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        title, department = rng.choice(TITLES)
        domain = company.domain if company else rng.choice(["mail.example", "post.example"])
        # "Fernández" → "fernandez": addresses in plain ASCII, as mail servers prefer.
        local = unicodedata.normalize("NFKD", f"{first}.{last}".lower().replace(" ", ""))
        local = "".join(ch for ch in local if ch.isascii() and (ch.isalnum() or ch == "."))
        email = f"{local}@{domain}"
        while email in used_emails:
            email = f"{local}{rng.randrange(2, 99)}@{domain}"
        used_emails.add(email)
        country = company.country if company else rng.choice(PLACES)[0]
        prefix = next(p for c, _cities, p in PLACES if c == country)
        stage = rng.choices([s for s, _w in STAGE_WEIGHTS], [w for _s, w in STAGE_WEIGHTS])[0]
        custom = {}
        if stage in ("customer", "evangelist"):
            custom["customer_tier"] = rng.choice(["Bronze", "Silver", "Gold"])
            custom["nps_score"] = rng.randrange(0, 11)
        birthday = None
        if rng.random() < 0.3:
            birthday = datetime.date(
                rng.randrange(1960, 2000), rng.randrange(1, 13), rng.randrange(1, 29)
            )
        return contact_create(
            org=org,
            actor=owner,
            first_name=first,
            last_name=last,
            email=email,
            phone=self._phone(prefix) if rng.random() < 0.8 else "",
            mobile=self._phone(prefix) if rng.random() < 0.5 else "",
            title=title if company else rng.choice(["Consultant", "Freelance designer", ""]),
            department=department if company else "",
            company=company,
            city=company.city if company else "",
            country=country,
            linkedin_url=f"https://www.linkedin.com/in/{local.replace('.', '-')}"
            if rng.random() < 0.4
            else "",
            lead_source=rng.choice(SOURCES),
            lifecycle_stage=stage,
            email_opt_in=rng.choice(CONSENTS),
            phone_opt_in=rng.choice(CONSENTS),
            sms_opt_in=rng.choice(CONSENTS),
            do_not_contact=rng.random() < 0.03,
            preferred_language=rng.choice(["en", "en", "bg", "de", ""]),
            birthday=birthday,
            notes=rng.choice(NOTES),
            assigned_to=rng.choice(sellers),
            tags=rng.sample(tags, rng.choice([0, 1, 1, 2, 3])),
            custom_fields=custom,
            other_emails=[
                {"label": rng.choice(["home", "other"]), "email": f"{local}@home.example"}
            ]
            if rng.random() < 0.25
            else [],
        )

    def _relationships(self, org, owner, contacts) -> None:
        """Who reports to whom (and assistants) at each company, referrals and spouses."""
        rng = self.rng
        by_company: dict = {}
        for contact in contacts:
            if contact.company_id:
                by_company.setdefault(contact.company_id, []).append(contact)
        for people in by_company.values():
            if len(people) < 2:
                continue
            boss, *staff = people
            for person in staff[:3]:
                contact_relationship_create(
                    org=org, actor=owner, from_contact=person, to_contact=boss, kind="reports_to"
                )
            if len(staff) > 3:
                contact_relationship_create(
                    org=org,
                    actor=owner,
                    from_contact=staff[3],
                    to_contact=boss,
                    kind="assistant_of",
                )
        paired: set = set()
        for kind, count in (("referred_by", 15), ("spouse", 4)):
            for _ in range(count):
                a, b = rng.sample(contacts, 2)
                if {a.pk, b.pk} & paired:
                    continue
                paired |= {a.pk, b.pk}
                contact_relationship_create(
                    org=org, actor=owner, from_contact=a, to_contact=b, kind=kind
                )

    def _phone(self, prefix: str) -> str:
        """A valid (per ``phonenumbers``) landline or mobile number of the prefix's country."""
        import phonenumbers

        rng = self.rng
        region = phonenumbers.region_code_for_country_code(int(prefix[1:]))
        types = phonenumbers.PhoneNumberType
        example = phonenumbers.example_number_for_type(
            region, rng.choice([types.FIXED_LINE, types.MOBILE])
        )
        national = str(example.national_number)
        for _attempt in range(20):
            number = phonenumbers.parse(f"{prefix}{national[:-4]}{rng.randrange(0, 10000):04d}")
            if phonenumbers.is_valid_number(number):
                example = number
                break
        return phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)

    def _backdate(self, companies, contacts) -> None:
        """Spread creation dates over the last 18 months, so date filters and sorting
        show something. A direct column update: this is demo staging, not a user's change,
        and belongs in no one's change log."""
        now = timezone.now()
        for model, rows in ((Company, companies), (Contact, contacts)):
            for row in rows:
                created = now - datetime.timedelta(
                    days=self.rng.randrange(0, 540), minutes=self.rng.randrange(0, 1440)
                )
                model.objects.unscoped().filter(pk=row.pk).update(
                    created_at=created, updated_at=created
                )

    def _saved_views(self, org, owner) -> None:
        contact_type = ContentType.objects.get_for_model(Contact)
        savedview_create(
            org=org,
            actor=owner,
            content_type=contact_type,
            name="Customers in Bulgaria",
            filters={"lifecycle_stage": ["customer"], "country": "BG"},
            shared=True,
        )
        savedview_create(
            org=org,
            actor=owner,
            content_type=contact_type,
            name="Newest leads",
            filters={"lifecycle_stage": ["lead"]},
            ordering="-created_at",
        )

    def _notifications(self, org, owner, people, contacts, companies) -> None:
        messages = [
            (people["rep1"], "assigned you a contact", contacts[0]),
            (people["manager"], "mentioned you on", companies[0]),
            (people["rep2"], "moved to Customer", contacts[1]),
            (people["admin"], "added a custom field to", companies[1]),
            (people["support"], "asked for help with", contacts[2]),
            (people["rep1"], "updated", contacts[3]),
        ]
        for actor, verb, record in messages:
            # Written directly (not via notify(), which defers to on_commit): the demo
            # needs them now, inside this organization's context.
            record_create(
                Notification,
                org=org,
                actor=actor,
                recipient=owner,
                verb=f"{actor.full_name} {verb} {record}",
                url=record.get_absolute_url(),
            )
        for notification in Notification.objects.filter(recipient=owner).order_by("created_at")[:2]:
            notification_mark_read(notification=notification, actor=owner)

    def _print_logins(self) -> None:
        from django.conf import settings

        url = settings.SITE_URL
        self.stdout.write(f"Log in at {url} as demo@pulsecrm.local / {DEMO_PASSWORD}")
        for email, full_name, role in PEOPLE:
            label = Role(role).label
            self.stdout.write(f"  or as {email} / {DEMO_PASSWORD}  ({label}, {full_name})")
