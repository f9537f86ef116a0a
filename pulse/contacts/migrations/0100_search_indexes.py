"""Search indexes for contacts and companies (PostgreSQL only; see pulse/contacts/search.py).

Trigram GIN indexes (``pg_trgm``) over the search document expressions, so
``UPPER(document) LIKE '%word%'`` (a substring) and ``LIKE '% wo%'`` (the start of a
word) are index scans instead of reads of every row. The expressions must stay
identical to what ``pulse.contacts.search.SearchDocument`` renders. SQLite gets
nothing: it scans, which is fast enough at its sizes (bench/notes/search.md).

Hand-written (RunPython with a vendor check) because the model layer cannot declare
an operator-class index on an expression portable to SQLite.
"""

from django.db import migrations

from pulse.core.migration_ops import postgresql_only

CONTACT_DOCUMENT = (
    "(' ' || first_name || ' ' || last_name || ' ' || email || ' ' || phone || ' ' || mobile)"
)
COMPANY_DOCUMENT = "(' ' || name || ' ' || domain || ' ' || phone)"

FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS contact_search_trgm ON contacts_contact "
    f"USING gin (UPPER({CONTACT_DOCUMENT}) gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS company_search_trgm ON contacts_company "
    f"USING gin (UPPER({COMPANY_DOCUMENT}) gin_trgm_ops)",
]
BACKWARD = [
    "DROP INDEX IF EXISTS contact_search_trgm",
    "DROP INDEX IF EXISTS company_search_trgm",
]


class Migration(migrations.Migration):
    dependencies = [("contacts", "0002_dedupe_keys")]

    operations = [postgresql_only(FORWARD, BACKWARD)]
