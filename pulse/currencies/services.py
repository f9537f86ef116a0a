"""Every state change of exchange rates (rule 3): add, change, delete, and import a CSV.

Only owners and admins maintain rates (the ``config`` permission group); the services
refuse anyone else whatever entry point called them.
"""

from __future__ import annotations

import csv
import datetime
import io
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.utils.translation import gettext as _

from pulse.core.currencies import is_currency
from pulse.core.errors import ApplicationError, PermissionDeniedError
from pulse.core.services import record_create, record_delete, record_update

from .models import ExchangeRate, RateSource

IMPORT_HEADER = ("currency", "rate", "valid_from")
# A rates file is a few rows per currency and month; past this it is not one.
IMPORT_MAX_ROWS = 5000
IMPORT_MAX_BYTES = 1_000_000
RATE_FIELDS = ("currency", "rate", "valid_from", "source")


def _check_admin(org, actor) -> None:
    from pulse.accounts.permissions import can

    if actor is not None and not can(actor, "edit", ExchangeRate, org):
        raise PermissionDeniedError(_("Your role does not allow this."))


def _clean_fields(fields: dict) -> dict:
    fields = {k: v for k, v in fields.items() if k in RATE_FIELDS}
    if isinstance(fields.get("currency"), str):
        fields["currency"] = fields["currency"].strip().upper()
    return fields


@transaction.atomic
def exchangerate_create(*, org, actor, **fields) -> ExchangeRate:
    """Add a rate: 1 ``currency`` = ``rate`` × the organization's currency from
    ``valid_from``. A rate for the organization's own currency is refused."""
    _check_admin(org, actor)
    return record_create(ExchangeRate, org=org, actor=actor, **_clean_fields(fields))


@transaction.atomic
def exchangerate_update(
    *, exchange_rate: ExchangeRate, actor, expected_version: int | None = None, **fields
) -> ExchangeRate:
    """Correct a rate's value, currency or first day."""
    _check_admin(exchange_rate.organization, actor)
    return record_update(
        exchange_rate, actor=actor, expected_version=expected_version, **_clean_fields(fields)
    )


@transaction.atomic
def exchangerate_delete(*, exchange_rate: ExchangeRate, actor) -> ExchangeRate:
    """Move a rate to the trash (reports then use the rate before it)."""
    _check_admin(exchange_rate.organization, actor)
    return record_delete(exchange_rate, actor=actor)


# --- import --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RateRow:
    line: int
    currency: str
    rate: Decimal
    valid_from: datetime.date


@dataclass
class ParsedRates:
    """What a rates file holds: good rows, and every bad row's line number and reason."""

    rows: list[RateRow] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)


def _parse_rate(text: str) -> Decimal | None:
    try:
        value = Decimal(text.strip().replace(" ", ""))
    except (InvalidOperation, ValueError):
        return None
    if not value.is_finite() or value <= 0:
        return None
    # The column holds 20 digits, 8 after the point.
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -8:
        return None
    if value >= Decimal(10) ** 12:
        return None
    return value


def parse_exchange_rates(text: str, *, base_currency: str) -> ParsedRates:
    """Read a ``currency,rate,valid_from`` CSV (header first, any column order, dates as
    YYYY-MM-DD). Pure: no database. Line numbers are the file's (the header is line 1)."""
    result = ParsedRates()
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        result.errors.append(
            (1, _("The file is empty; the first line must be: %s.") % ",".join(IMPORT_HEADER))
        )
        return result
    names = [h.strip().lower() for h in header]
    if sorted(names) != sorted(IMPORT_HEADER):
        result.errors.append(
            (
                1,
                _("The first line must name the columns %(wanted)s (found: %(found)s).")
                % {"wanted": ",".join(IMPORT_HEADER), "found": ",".join(names) or "-"},
            )
        )
        return result
    index = {name: names.index(name) for name in IMPORT_HEADER}
    seen: dict[tuple[str, datetime.date], int] = {}
    try:
        for values in reader:
            line = reader.line_num
            if not any(v.strip() for v in values):
                continue  # blank lines are not rows
            if len(result.rows) + len(result.errors) >= IMPORT_MAX_ROWS:
                result.errors.append(
                    (line, _("A file holds at most %(n)d rates.") % {"n": IMPORT_MAX_ROWS})
                )
                break
            if len(values) != len(IMPORT_HEADER):
                result.errors.append(
                    (
                        line,
                        _("Expected %(n)d values, found %(found)d.")
                        % {"n": len(IMPORT_HEADER), "found": len(values)},
                    )
                )
                continue
            problems = []
            currency = values[index["currency"]].strip().upper()
            if not is_currency(currency):
                problems.append(
                    _("“%(value)s” is not an ISO 4217 currency code.") % {"value": currency}
                )
            elif currency == base_currency:
                problems.append(
                    _("%(currency)s is the organization's own currency; its rate is always 1.")
                    % {"currency": currency}
                )
            rate = _parse_rate(values[index["rate"]])
            if rate is None:
                problems.append(
                    _("“%(value)s” is not a rate (a positive number, at most 8 decimals).")
                    % {"value": values[index["rate"]].strip()}
                )
            raw_day = values[index["valid_from"]].strip()
            try:
                day = datetime.date.fromisoformat(raw_day)
                if len(raw_day) != 10:
                    raise ValueError(raw_day)
            except ValueError:
                day = None
                problems.append(_("“%(value)s” is not a date (YYYY-MM-DD).") % {"value": raw_day})
            if not problems and (currency, day) in seen:
                problems.append(
                    _("%(currency)s on %(day)s is already on line %(line)d.")
                    % {"currency": currency, "day": day.isoformat(), "line": seen[(currency, day)]}
                )
            if problems:
                result.errors.append((line, " ".join(problems)))
                continue
            seen[(currency, day)] = line
            result.rows.append(RateRow(line, currency, rate, day))
    except csv.Error as exc:
        result.errors.append((reader.line_num, _("The file is not valid CSV: %s") % exc))
    return result


@dataclass(frozen=True)
class RateImportResult:
    created: int
    updated: int
    unchanged: int


def _read_upload(file) -> str:
    raw = file.read(IMPORT_MAX_BYTES + 1) if hasattr(file, "read") else file
    if isinstance(raw, str):
        text = raw
    else:
        if len(raw) > IMPORT_MAX_BYTES:
            raise ApplicationError(errors={"file": [_("The file is larger than 1 MB.")]})
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ApplicationError(errors={"file": [_("The file is not UTF-8 text.")]})
    return text


@transaction.atomic
def exchangerate_import(*, org, actor, file) -> RateImportResult:
    """Import rates from a ``currency,rate,valid_from`` CSV, all or nothing.

    Every bad row is reported with its line number (``errors["file"]``, one message per
    row) and then nothing is imported. A rate for a currency and day that already has
    one replaces its value.
    """
    _check_admin(org, actor)
    parsed = parse_exchange_rates(_read_upload(file), base_currency=org.default_currency)
    if parsed.errors:
        raise ApplicationError(
            _("Nothing was imported: %(n)d line(s) need fixing.") % {"n": len(parsed.errors)},
            errors={
                "file": [
                    _("Line %(line)d: %(message)s") % {"line": line, "message": message}
                    for line, message in parsed.errors
                ]
            },
        )
    if not parsed.rows:
        raise ApplicationError(errors={"file": [_("The file holds no rates.")]})
    existing = {
        (r.currency, r.valid_from): r
        for r in ExchangeRate.objects.unscoped().filter(
            organization=org,
            deleted_at__isnull=True,
            currency__in={row.currency for row in parsed.rows},
        )
    }
    created = updated = unchanged = 0
    for row in parsed.rows:
        current = existing.get((row.currency, row.valid_from))
        if current is None:
            record_create(
                ExchangeRate,
                org=org,
                actor=actor,
                currency=row.currency,
                rate=row.rate,
                valid_from=row.valid_from,
                source=RateSource.IMPORT,
            )
            created += 1
        elif current.rate != row.rate:
            record_update(current, actor=actor, rate=row.rate, source=RateSource.IMPORT)
            updated += 1
        else:
            unchanged += 1
    return RateImportResult(created=created, updated=updated, unchanged=unchanged)
