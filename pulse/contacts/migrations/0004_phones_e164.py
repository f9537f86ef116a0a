"""Existing phone numbers to E.164, read with each organization's country.

Numbers that do not parse stay as they are: the record pages show them unchanged and
the next edit asks for a valid number. A data fix, not a user's change: no change-log
entries (the History tab would otherwise credit nobody with thousands of edits).
"""

from django.core.exceptions import ValidationError
from django.db import migrations

CHUNK = 1000


def _convert(model, names, countries):
    from pulse.contacts.phones import normalize_phone

    rows = model._base_manager.only("pk", "organization_id", *names).order_by("pk")
    changed = []
    for row in rows.iterator(chunk_size=CHUNK):
        dirty = False
        for name in names:
            value = getattr(row, name)
            if not value:
                continue
            try:
                e164 = normalize_phone(value, countries.get(row.organization_id, ""))
            except ValidationError:
                continue  # left for a person to fix
            if e164 != value:
                setattr(row, name, e164)
                dirty = True
        if dirty:
            changed.append(row)
        if len(changed) >= CHUNK:
            model._base_manager.bulk_update(changed, names)
            changed = []
    if changed:
        model._base_manager.bulk_update(changed, names)


def phones_to_e164(apps, schema_editor):
    Organization = apps.get_model("accounts", "Organization")
    countries = dict(Organization._base_manager.values_list("pk", "country"))
    _convert(apps.get_model("contacts", "Contact"), ["phone", "mobile"], countries)
    _convert(apps.get_model("contacts", "Company"), ["phone"], countries)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_organization_country"),
        ("contacts", "0003_contact_relationships"),
    ]

    operations = [migrations.RunPython(phones_to_e164, migrations.RunPython.noop)]
