"""The board's Won and Lost columns show the deals closed in the current fiscal quarter,
most recently closed first: a range scan of this partial index per column (cards) and for
their totals (value, currency and probability included: index-only), instead of every
deal ever closed (section G, bench/notes/opportunities.md)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("opportunities", "0002_e_bench_indexes"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="opportunity",
            index=models.Index(
                condition=models.Q(("deleted_at__isnull", True), ("status__in", ["won", "lost"])),
                fields=["organization", "stage", "-actual_close_date"],
                include=("currency", "value", "probability"),
                name="opp_org_stage_closed",
            ),
        ),
    ]
