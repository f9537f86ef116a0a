"""The pipeline's per-stage counts and value totals from an index-only scan (helper G).

``selectors.lead_pipeline`` groups live leads by ``(stage, currency)`` and sums ``value``;
on PostgreSQL this partial covering index answers that without reading the table (as long
as autovacuum keeps the visibility map current). SQLite builds it without ``INCLUDE``.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0001_initial"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="lead",
            index=models.Index(
                condition=models.Q(("deleted_at__isnull", True)),
                fields=["organization", "stage", "currency"],
                include=("value",),
                name="lead_org_stage_totals",
            ),
        ),
    ]
