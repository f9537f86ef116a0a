"""What an import can write into: a registry of import targets.

A target (``contacts``, ``companies``; the leads issue adds ``leads``) declares its
fields with the column names other CRMs export them under, and knows how to turn a
row's mapped cells into a record's fields and how to spot duplicates. The engine
(``pulse.imports.engine``) does the rest the same way for every target: reading,
batching, bulk writes, the change log, undo.

Register a target with ``register_target(MyTarget())`` from the owning app (e.g. in its
``AppConfig.ready``); ``get_target(key)`` and ``targets()`` find them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _

from .values import fold_key


@dataclass(frozen=True)
class TargetField:
    """One field a column can be mapped to.

    ``synonyms`` are header names other systems use for it (HubSpot, Salesforce,
    Pipedrive, Zoho, Google Contacts, Outlook …); ``multiple`` lets several columns
    feed it (further emails, tags, notes).
    """

    key: str
    label: Any
    synonyms: tuple[str, ...] = ()
    multiple: bool = False
    group: Any = ""

    @property
    def folded(self) -> set[str]:
        return {fold_key(s) for s in (*self.synonyms, str(self.label), self.key) if s}


class RowInvalid(Exception):
    """A row's cells cannot become a record: ``errors`` is {field key: message}."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass
class Prepared:
    """A row turned into a record's values, ready to be matched and written.

    ``fields`` are model field values by attname (``company_id``, ``assigned_to_id`` …);
    ``tags`` tag names to add; ``pk`` is set once the row is decided (new or matched).
    """

    line: int
    cells: list[str]
    fields: dict[str, Any]
    tags: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    pk: Any = None


@dataclass(frozen=True)
class Decision:
    """What to do with a prepared row: ``create``, ``update`` (``pk``) or ``skip`` (why)."""

    action: str
    pk: Any = None
    reason: str = ""


class TargetRun:
    """One run of a target over one job: caches and the in-memory duplicate index.

    Subclasses implement ``build`` and ``decide``; ``before_write`` may create related
    records the batch needs (through ``writer``), ``remember`` adds a written row to the
    duplicate index.
    """

    model: type

    def build(self, values: dict[str, list[str]], line: int, cells: list[str]) -> Prepared:
        raise NotImplementedError

    def decide(self, row: Prepared, *, mode: str, match_by: str) -> Decision:
        raise NotImplementedError

    def describe(self, values: dict) -> str:
        """A new record's name for the change log, from its insert row."""
        return str(self.model(**values))

    def check(self, row: Prepared) -> str:
        """Why a built row cannot be written whatever the mode ("" when it can)."""
        return ""

    def remember(self, row: Prepared) -> None:
        """Add a row being written to the duplicate index (within-file duplicates)."""

    def before_write(self, rows: list[Prepared], writer) -> None:
        """Create what the batch's rows point to (e.g. new companies) before they are written."""

    def update_fields(self, row: Prepared, instance) -> dict[str, Any]:
        """The fields an update changes: the row's non-empty values (empties never erase)."""
        return {name: value for name, value in row.fields.items() if value not in ("", None, [])}


class ImportTarget:
    """A kind of record an import can write. Subclass and ``register_target`` it."""

    key: str = ""
    label: Any = ""
    model: type = None
    icon: str = "bi-upload"
    list_url_name: str = ""

    def fields(self) -> list[TargetField]:
        """Built-in and custom fields (for the current organization), in menu order."""
        raise NotImplementedError

    def match_options(self) -> list[tuple[str, str]]:
        """(match_by value, label) for the "update matching" mode."""
        return []

    def default_match_by(self) -> str:
        options = self.match_options()
        return options[0][0] if options else ""

    def required_hint(self) -> str:
        """What a row needs at least, said to the person mapping columns."""
        return ""

    def start(self, *, job, actor) -> TargetRun:
        raise NotImplementedError

    def field_map(self) -> dict[str, TargetField]:
        return {f.key: f for f in self.fields()}


_TARGETS: dict[str, ImportTarget] = {}


def register_target(target: ImportTarget) -> ImportTarget:
    """Make ``target`` available to uploads, the API and the engine."""
    _TARGETS[target.key] = target
    return target


def targets() -> list[ImportTarget]:
    _load()
    return list(_TARGETS.values())


def get_target(key: str) -> ImportTarget | None:
    _load()
    return _TARGETS.get(key)


def _load() -> None:
    # Importing registers contacts and companies (once; other apps register theirs).
    from . import crm_targets  # noqa: F401


def target_choices() -> list[tuple[str, str]]:
    return [(t.key, str(t.label)) for t in targets()]


def unknown_target_message() -> str:
    return _("Choose what to import: %(choices)s.") % {
        "choices": ", ".join(t.key for t in targets())
    }
