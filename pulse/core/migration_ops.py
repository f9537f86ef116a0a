"""Migration operations shared by the apps' hand-written migrations."""

from __future__ import annotations

from django.db import migrations


def postgresql_only(forward: list[str], backward: list[str]) -> migrations.RunPython:
    """Run raw SQL statements on PostgreSQL and do nothing elsewhere (SQLite): for what the
    model layer cannot declare portably, such as trigram indexes on expressions."""

    def run(statements):
        def apply(apps, schema_editor):
            if schema_editor.connection.vendor != "postgresql":
                return
            for sql in statements:
                schema_editor.execute(sql)

        return apply

    return migrations.RunPython(run(forward), run(backward), elidable=False)
