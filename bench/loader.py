"""Fast bulk writes for the generator: PostgreSQL ``COPY`` or batched ``bulk_create``.

Rows are plain dicts keyed by field attname (``company_id``, not ``company``); any
concrete field a row leaves out gets the field's default, so a model that grows a
field with a default keeps loading. Dates are written as given (``auto_now`` and
``auto_now_add`` would overwrite them on ``bulk_create``, so they are switched off
while loading).

Generated rows skip the services and the change log on purpose: this is synthetic
volume for timing reads, not user data (the import benchmark measures the service
path).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable

from django.db import connection, models, transaction


def _fields(model) -> list:
    # Auto-increment keys (the tag through tables') are left to the database.
    return [f for f in model._meta.concrete_fields if not isinstance(f, models.AutoField)]


@contextlib.contextmanager
def _dates_as_given(model):
    changed = []
    for field in _fields(model):
        if isinstance(field, models.DateField) and (field.auto_now or field.auto_now_add):
            changed.append((field, field.auto_now, field.auto_now_add))
            field.auto_now = field.auto_now_add = False
    try:
        yield
    finally:
        for field, auto_now, auto_now_add in changed:
            field.auto_now, field.auto_now_add = auto_now, auto_now_add


class TableWriter:
    """Buffers rows of one model and writes them in batches."""

    def __init__(self, model, *, batch_size: int = 5000, on_full=None):
        self.model = model
        # Called when the buffer is full: the loader flushes every table in creation
        # order, so rows that point at others (tag links) never reach the database first.
        self.on_full = on_full
        self.fields = _fields(model)
        self.batch_size = batch_size
        self.rows: list[dict] = []
        self.written = 0
        self.postgres = connection.vendor == "postgresql"
        self._defaults = {}
        for field in self.fields:
            if field.has_default() and not callable(field.default):
                self._defaults[field.attname] = field.default
            elif field.has_default() and field.default in (dict, list):
                self._defaults[field.attname] = field.default()
            elif field.null:
                self._defaults[field.attname] = None
            elif isinstance(field, models.CharField | models.TextField):
                self._defaults[field.attname] = ""

    def add(self, row: dict) -> None:
        self.rows.append(row)
        if len(self.rows) >= self.batch_size:
            (self.on_full or self.flush)()

    def extend(self, rows: Iterable[dict]) -> None:
        for row in rows:
            self.add(row)

    def flush(self) -> None:
        if not self.rows:
            return
        if self.postgres:
            self._copy(self.rows)
        else:
            self._bulk_create(self.rows)
        self.written += len(self.rows)
        self.rows = []

    def _value(self, field, row):
        try:
            return row[field.attname]
        except KeyError:
            try:
                return self._defaults[field.attname]
            except KeyError:
                raise KeyError(f"{self.model.__name__}.{field.attname} needs a value") from None

    def _copy(self, rows: list[dict]) -> None:
        table = connection.ops.quote_name(self.model._meta.db_table)
        columns = ", ".join(connection.ops.quote_name(f.column) for f in self.fields)
        json_fields = {f.attname for f in self.fields if isinstance(f, models.JSONField)}
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
        ):
            for row in rows:
                values = []
                for field in self.fields:
                    value = self._value(field, row)
                    if field.attname in json_fields:
                        value = json.dumps(value)
                    values.append(value)
                copy.write_row(values)

    def _bulk_create(self, rows: list[dict]) -> None:
        objs = [self.model(**{f.attname: self._value(f, row) for f in self.fields}) for row in rows]
        with _dates_as_given(self.model), transaction.atomic():
            self.model._base_manager.bulk_create(objs, batch_size=500)


class Loader:
    """One writer per model; ``close()`` flushes them all in creation order."""

    def __init__(self, *, batch_size: int = 5000):
        self.batch_size = batch_size
        self.writers: dict[type, TableWriter] = {}

    def __call__(self, model) -> TableWriter:
        writer = self.writers.get(model)
        if writer is None:
            writer = self.writers[model] = TableWriter(
                model, batch_size=self.batch_size, on_full=self.flush
            )
        return writer

    def flush(self) -> None:
        for writer in self.writers.values():
            writer.flush()

    def add_written(self, model, count: int) -> None:
        """Rows of ``model`` another process wrote (counted in ``counts``)."""
        self(model).written += count

    def counts(self) -> dict[str, int]:
        return {m._meta.label: w.written + len(w.rows) for m, w in self.writers.items()}


def analyze(models_: Iterable) -> None:
    """Fresh planner statistics (and the visibility map, for index-only scans)."""
    tables = [m._meta.db_table for m in models_]
    with connection.cursor() as cursor:
        for table in tables:
            if connection.vendor == "postgresql" and not connection.in_atomic_block:
                cursor.execute(f"VACUUM (ANALYZE) {connection.ops.quote_name(table)}")
            else:
                cursor.execute(f"ANALYZE {connection.ops.quote_name(table)}")
