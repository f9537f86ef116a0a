"""Trigram indexes for searching leads by title, first_name, last_name, email, company_name (PostgreSQL only).

The global search box and the list's search match these fields with ``icontains``
(``UPPER(field::text) LIKE UPPER('%word%')``). A GIN ``gin_trgm_ops`` index on exactly
that expression turns a rare word into an index scan instead of a walk of the
newest-first index through every row (seconds at a few million rows); see
``pulse.contacts.search.NewestMatchesEntry`` and bench/notes/search.md. SQLite gets
nothing: it scans, which is fast enough at its sizes.
"""

from django.db import migrations

from pulse.core.migration_ops import postgresql_only

FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS lead_title_trgm ON leads_lead USING gin (UPPER(title::text) gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS lead_first_name_trgm ON leads_lead USING gin (UPPER(first_name::text) gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS lead_last_name_trgm ON leads_lead USING gin (UPPER(last_name::text) gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS lead_email_trgm ON leads_lead USING gin (UPPER(email::text) gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS lead_company_name_trgm ON leads_lead USING gin (UPPER(company_name::text) gin_trgm_ops)",
]
BACKWARD = [
    "DROP INDEX IF EXISTS lead_title_trgm",
    "DROP INDEX IF EXISTS lead_first_name_trgm",
    "DROP INDEX IF EXISTS lead_last_name_trgm",
    "DROP INDEX IF EXISTS lead_email_trgm",
    "DROP INDEX IF EXISTS lead_company_name_trgm",
]


class Migration(migrations.Migration):
    dependencies = [("leads", "0004_lead_converted_opportunity")]

    operations = [postgresql_only(FORWARD, BACKWARD)]
