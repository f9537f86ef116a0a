"""Trigram indexes for searching activities by subject (PostgreSQL only).

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
    "CREATE INDEX IF NOT EXISTS act_subject_trgm ON activities_activity USING gin (UPPER(subject::text) gin_trgm_ops)",
]
BACKWARD = [
    "DROP INDEX IF EXISTS act_subject_trgm",
]


class Migration(migrations.Migration):
    dependencies = [("activities", "0002_dashboard_overdue_indexes")]

    operations = [postgresql_only(FORWARD, BACKWARD)]
