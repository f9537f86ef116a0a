"""Column mapping: guessing fields from header names, checking a mapping, remembering it.

A mapping is ``{column index as text: field key}``. Guesses come first from the
mapping the organization saved for the same header row, then from each field's
synonyms (the header names HubSpot, Salesforce, Pipedrive, Zoho and Google Contacts
export), then from a close fuzzy match.
"""

from __future__ import annotations

import hashlib

from django.utils.translation import gettext as _
from rapidfuzz import fuzz, process

from .targets import ImportTarget
from .values import fold_key

FUZZY_CUTOFF = 90


def signature(headers: list[str]) -> str:
    """Identifies a header layout whatever the case, spacing and punctuation."""
    folded = "\x1f".join(fold_key(h) for h in headers)
    return hashlib.sha256(folded.encode()).hexdigest()


def guess(target: ImportTarget, headers: list[str], saved: dict | None = None) -> dict[str, str]:
    """{column index: field key} for the columns we can recognise.

    ``saved`` is a remembered {header: field key} mapping; it wins. A single-valued
    field is given to the first column that matches it.
    """
    fields = target.fields()
    by_key = {f.key: f for f in fields}
    exact: dict[str, str] = {}
    for f in fields:
        for name in f.folded:
            exact.setdefault(name, f.key)
    choices = list(exact)
    mapping: dict[str, str] = {}
    taken: set[str] = set()

    def take(index: int, key: str) -> None:
        f = by_key.get(key)
        if f is None or (key in taken and not f.multiple):
            return
        mapping[str(index)] = key
        taken.add(key)

    saved = saved or {}
    for index, header in enumerate(headers):
        if header in saved:
            if saved[header]:
                take(index, saved[header])
    remembered = {str(i) for i, h in enumerate(headers) if h in saved}
    for index, header in enumerate(headers):
        if str(index) in remembered:
            continue
        folded = fold_key(header)
        if not folded:
            continue
        key = exact.get(folded)
        if key is None and len(folded) > 3 and choices:
            found = process.extractOne(
                folded, choices, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF
            )
            key = exact[found[0]] if found else None
        if key is not None:
            take(index, key)
    return mapping


def clean_mapping(
    target: ImportTarget, headers: list[str], mapping
) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Check a submitted mapping; returns (mapping, errors keyed by column index or __all__).

    Refuses columns that do not exist, fields the target does not have, and a
    single-valued field mapped from two columns. Empty values mean "do not import".
    """
    errors: dict[str, list[str]] = {}
    if not isinstance(mapping, dict):
        return {}, {"mapping": [_("Send the mapping as an object of column: field.")]}
    fields = target.field_map()
    cleaned: dict[str, str] = {}
    used: dict[str, str] = {}
    for column, key in mapping.items():
        column = str(column)
        if not column.isdigit() or int(column) >= len(headers):
            errors.setdefault(f"mapping.{column}", []).append(
                _("The file has no column %(column)s.") % {"column": column}
            )
            continue
        if key in (None, ""):
            continue
        if not isinstance(key, str) or key not in fields:
            errors.setdefault(f"mapping.{column}", []).append(
                _("“%(key)s” is not a field you can import into.") % {"key": str(key)[:60]}
            )
            continue
        if key in used and not fields[key].multiple:
            errors.setdefault(f"mapping.{column}", []).append(
                _("“%(field)s” is already mapped from column “%(other)s”.")
                % {"field": fields[key].label, "other": headers[int(used[key])]}
            )
            continue
        used.setdefault(key, column)
        cleaned[column] = key
    if not cleaned and not errors:
        errors["mapping"] = [_("Map at least one column to a field.")]
    return cleaned, errors


def by_header(headers: list[str], mapping: dict[str, str]) -> dict[str, str]:
    """{header: field key} for every column (unmapped ones as "") — what gets remembered."""
    return {h: mapping.get(str(i), "") for i, h in enumerate(headers)}
