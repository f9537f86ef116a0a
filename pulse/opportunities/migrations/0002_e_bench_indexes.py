"""Covering partial indexes for the forecast's two aggregates (open deals by expected
close date, won deals by close date): index-only scans, measured in
bench/notes/opportunities.md (section E)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("opportunities", "0001_initial"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="opportunity",
            index=models.Index(
                condition=models.Q(("deleted_at__isnull", True), ("status", "open")),
                fields=["organization", "expected_close_date"],
                include=(
                    "assigned_to",
                    "currency",
                    "forecast_category",
                    "value",
                    "probability",
                    "id",
                ),
                name="opp_forecast_open",
            ),
        ),
        migrations.AddIndex(
            model_name="opportunity",
            index=models.Index(
                condition=models.Q(("deleted_at__isnull", True), ("status", "won")),
                fields=["organization", "actual_close_date"],
                include=("assigned_to", "currency", "value", "id"),
                name="opp_forecast_won",
            ),
        ),
    ]
