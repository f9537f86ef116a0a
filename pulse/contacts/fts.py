"""SQLite's search index for contacts and companies: FTS5 trigram tables kept by triggers.

PostgreSQL answers ``UPPER(document) LIKE '%word%'`` from a trigram GIN index (migration
``0100_search_indexes``). SQLite has no such index: the same ``LIKE`` read all 100,000
contacts of the bench data on every pass (150-250 ms each, two or three passes a search).
Its FTS5 extension has a trigram tokenizer that answers substring queries from an index,
so on SQLite every record type searched by :mod:`pulse.contacts.search` gets:

``<table>_search``
    an ordinary table ``(id INTEGER PRIMARY KEY, record_id, document)``: one row per
    record with the same search document PostgreSQL indexes (``' ' || first_name || ' '
    || …``). The explicit integer key keeps the full-text index's row ids stable (a
    ``VACUUM`` may renumber the implicit rowids of the record tables, whose keys are
    UUIDs).
``<table>_search_fts``
    an FTS5 table over that document (``tokenize='trigram case_sensitive 0'``,
    external content: the text is stored once, in ``<table>_search``).

Triggers on the record table keep ``<table>_search`` in step with every insert, update of
a document field and delete, whoever writes (services, imports, ``bulk_create``,
``QuerySet.update``, raw SQL); triggers on ``<table>_search`` keep the FTS index in step.
Nothing in Python has to remember to update it.

SQLite drops a table's triggers when Django's schema editor rebuilds the table (most
``AlterField`` and some ``AddField`` migrations copy the table into a new one), so
:func:`ensure` runs after every ``migrate`` (``post_migrate``, see ``apps.py``) as well as
in migration ``0007_sqlite_search``: it creates whatever is missing and, when a trigger
was missing, rebuilds the document rows from the records.

This module imports no models: migrations use it.
"""

# ruff: noqa: S608 - the SQL below names tables and columns from DOCUMENTS (constants);
# no value from outside is ever put into it.
from __future__ import annotations

from django.db import transaction

# record table → the fields of its search document, in order. search.py takes its
# ``CONTACT_DOCUMENT_FIELDS`` / ``COMPANY_DOCUMENT_FIELDS`` from here; PostgreSQL's index
# expressions (migration 0100) must match them too. Changing a list needs a migration
# that drops the triggers (``ensure`` then recreates them and rebuilds the rows).
DOCUMENTS: dict[str, tuple[str, ...]] = {
    "contacts_contact": ("first_name", "last_name", "email", "phone", "mobile"),
    "contacts_company": ("name", "domain", "phone"),
}


def search_table(table: str) -> str:
    return f"{table}_search"


def fts_table(table: str) -> str:
    return f"{table}_search_fts"


def document_sql(fields: tuple[str, ...], row: str) -> str:
    """``' ' || new.a || ' ' || new.b …`` (``row``: ``new``, or a table name)."""
    return "' ' || " + " || ' ' || ".join(f"{row}.{name}" for name in fields)


def _triggers(table: str, fields: tuple[str, ...]) -> dict[str, str]:
    search, fts = search_table(table), fts_table(table)
    changed = " OR ".join(f"old.{name} IS NOT new.{name}" for name in fields)
    return {
        # The record table keeps the document rows.
        f"{search}_on_insert": (
            f"AFTER INSERT ON {table} BEGIN "
            f"INSERT INTO {search}(record_id, document) "
            f"VALUES (new.id, {document_sql(fields, 'new')}); END"
        ),
        f"{search}_on_update": (
            f"AFTER UPDATE OF {', '.join(fields)} ON {table} WHEN {changed} BEGIN "
            f"UPDATE {search} SET document = {document_sql(fields, 'new')} "
            f"WHERE record_id = new.id; END"
        ),
        f"{search}_on_delete": (
            f"AFTER DELETE ON {table} BEGIN DELETE FROM {search} WHERE record_id = old.id; END"
        ),
        # The document rows keep the FTS index (the external-content pattern of the
        # SQLite FTS5 documentation).
        f"{fts}_on_insert": (
            f"AFTER INSERT ON {search} BEGIN "
            f"INSERT INTO {fts}(rowid, document) VALUES (new.id, new.document); END"
        ),
        f"{fts}_on_delete": (
            f"AFTER DELETE ON {search} BEGIN "
            f"INSERT INTO {fts}({fts}, rowid, document) "
            f"VALUES ('delete', old.id, old.document); END"
        ),
        f"{fts}_on_update": (
            f"AFTER UPDATE ON {search} BEGIN "
            f"INSERT INTO {fts}({fts}, rowid, document) "
            f"VALUES ('delete', old.id, old.document); "
            f"INSERT INTO {fts}(rowid, document) VALUES (new.id, new.document); END"
        ),
    }


def _existing(cursor, kind: str) -> set[str]:
    cursor.execute("SELECT name FROM sqlite_master WHERE type = %s", [kind])
    return {row[0] for row in cursor.fetchall()}


def ensure(connection) -> list[str]:
    """Create the search tables and triggers that are missing (SQLite only; idempotent).

    When a trigger was missing (a new database, or a migration rebuilt the record table),
    the document rows are rebuilt from the records, so the index is right whatever was
    written meanwhile. Returns the names of the tables whose rows were rebuilt.
    """
    if connection.vendor != "sqlite":
        return []
    rebuilt = []
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        tables = _existing(cursor, "table")
        triggers = _existing(cursor, "trigger")
        for table, fields in DOCUMENTS.items():
            if table not in tables:
                continue  # before the record table's own migration
            search, fts = search_table(table), fts_table(table)
            if search not in tables:
                cursor.execute(
                    f"CREATE TABLE {search} (id INTEGER PRIMARY KEY, "
                    f"record_id char(32) NOT NULL UNIQUE, document TEXT NOT NULL)"
                )
            if fts not in tables:
                cursor.execute(
                    f"CREATE VIRTUAL TABLE {fts} USING fts5(document, content='{search}', "
                    f"content_rowid='id', tokenize='trigram case_sensitive 0')"
                )
            wanted = _triggers(table, fields)
            if all(name in triggers for name in wanted):
                continue
            # Rebuild with the triggers off, then create them all.
            for name in wanted:
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
            cursor.execute(f"DELETE FROM {search}")
            cursor.execute(
                f"INSERT INTO {search}(record_id, document) "
                f"SELECT id, {document_sql(fields, table)} FROM {table}"
            )
            cursor.execute(f"INSERT INTO {fts}({fts}) VALUES ('rebuild')")
            for name, body in wanted.items():
                cursor.execute(f"CREATE TRIGGER {name} {body}")
            rebuilt.append(table)
        if rebuilt:
            # Statistics tell SQLite's planner that a word's few matches are cheaper to
            # start from than the organization's every row (without them it may probe
            # the match list once per row of the organization).
            cursor.execute("ANALYZE")
    return rebuilt


def drop(connection) -> None:
    """Remove the search tables and triggers (the migration's reverse)."""
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        for table, fields in DOCUMENTS.items():
            for name in _triggers(table, fields):
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
            cursor.execute(f"DROP TABLE IF EXISTS {fts_table(table)}")
            cursor.execute(f"DROP TABLE IF EXISTS {search_table(table)}")
