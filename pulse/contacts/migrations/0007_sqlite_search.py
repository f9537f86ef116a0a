"""SQLite's search index: FTS5 trigram tables kept by triggers (see pulse/contacts/fts.py).

PostgreSQL has its trigram indexes since ``0100_search_indexes`` and gets nothing here.
"""

from django.db import migrations

from pulse.contacts import fts


def forward(apps, schema_editor):
    fts.ensure(schema_editor.connection)


def backward(apps, schema_editor):
    fts.drop(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("contacts", "0006_sort_indexes")]

    operations = [migrations.RunPython(forward, backward, elidable=False)]
