"""Turning cell text into field values: dates, yes/no, numbers, countries, choices.

Each parser takes the cell's text (already stripped, never empty) and returns the value
to store or raises ``CellError`` with a message for the person importing.
"""

from __future__ import annotations

import datetime
import decimal
import re
import unicodedata

from django.utils.translation import gettext as _

# Cells starting with these make spreadsheets evaluate them (formula injection).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_NUMBERISH = re.compile(r"^[+\-]?[\d\s().,/-]*\d[\d\s().,/-]*$")


class CellError(ValueError):
    """A cell's text cannot become the field's value."""


def fold_key(text: str) -> str:
    """``"E-mail 1 - Value"`` → ``"email1value"``: case, accents and punctuation dropped."""
    text = unicodedata.normalize("NFKD", text or "")
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    return re.sub(r"[\W_]+", "", text)


def unneutralise(value: str) -> str:
    """Undo export's formula neutralisation: ``'=1+2`` → ``=1+2``."""
    if len(value) > 1 and value[0] == "'" and value[1] in FORMULA_TRIGGERS:
        return value[1:]
    return value


def is_formula_like(value: str) -> bool:
    """A cell a spreadsheet would run: ``=SUM(…)``, ``@cmd``, ``+x|…`` (not ``+359 …``)."""
    if not value or value[0] not in FORMULA_TRIGGERS:
        return False
    if value[0] in "+-" and _NUMBERISH.match(value):
        return False  # a phone number or a negative number
    # "@northwind" is an X handle, not a formula.
    return not (value[0] == "@" and re.match(r"^@[A-Za-z0-9_]{1,15}$", value))


TRUE_WORDS = frozenset(
    {"1", "y", "yes", "true", "t", "x", "on", "checked", "да", "ja", "oui", "si"}
)
FALSE_WORDS = frozenset({"0", "n", "no", "false", "f", "off", "unchecked", "не", "nein", "non"})


def parse_bool(text: str) -> bool:
    word = text.strip().casefold()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise CellError(_("Use yes or no."))


_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ][\d:.]+(?:Z|[+-]\d{2}:?\d{2})?)?$")
_DMY = re.compile(r"^(\d{1,2})[./\-](\d{1,2})[./\-](\d{2,4})$")
_YMD_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_MONTHS = {
    m: i
    for i, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ],
        1,
    )
    for m in names
}
_WORDY = re.compile(
    r"^(\d{1,2})\s+([A-Za-z]+)\.?,?\s+(\d{4})$|^([A-Za-z]+)\.?\s+(\d{1,2}),?\s+(\d{4})$"
)


def _date(year: int, month: int, day: int) -> datetime.date:
    try:
        return datetime.date(year, month, day)
    except ValueError:
        raise CellError(_("This is not a real date."))


def parse_date(text: str, *, day_first: bool = True) -> datetime.date:
    """ISO (``1990-12-31``), ``31.12.1990``, ``12/31/1990``, ``31 Dec 1990``, Excel serials.

    Slashed dates are read day first or month first as the organization writes dates;
    a date that only makes sense the other way round is read that way.
    """
    text = text.strip()
    if match := _ISO.match(text):
        return _date(int(match[1]), int(match[2]), int(match[3]))
    if match := _YMD_COMPACT.match(text):
        return _date(int(match[1]), int(match[2]), int(match[3]))
    if match := _DMY.match(text):
        a, b, year = int(match[1]), int(match[2]), int(match[3])
        if year < 100:
            year += 1900 if year > (datetime.date.today().year % 100) else 2000
        day, month = (a, b) if day_first else (b, a)
        if month > 12 and day <= 12:
            day, month = month, day
        return _date(year, month, day)
    if match := _WORDY.match(text):
        if match[1]:
            day, month_name, year = int(match[1]), match[2], int(match[3])
        else:
            month_name, day, year = match[4], int(match[5]), int(match[6])
        month = _MONTHS.get(month_name.casefold())
        if month is None:
            raise CellError(_("Enter a date as YYYY-MM-DD."))
        return _date(year, month, day)
    if re.match(r"^\d{4,5}(\.0+)?$", text):  # an Excel serial day number
        serial = int(float(text))
        if 1 < serial < 80000:
            return datetime.date(1899, 12, 30) + datetime.timedelta(days=serial)
    raise CellError(_("Enter a date as YYYY-MM-DD."))


_MONEY_NOISE = re.compile(r"[\s$€£¥₹]|[A-Z]{3}$|^[A-Z]{3}")


def parse_decimal(text: str, *, max_digits: int = 18, places: int = 2) -> decimal.Decimal:
    """``1,200,000.50``, ``1.200.000,50``, ``$ 5000``, ``2.5M`` → Decimal."""
    raw = _MONEY_NOISE.sub("", text.strip().upper())
    multiplier = 1
    if raw[-1:] in ("K", "M", "B"):
        multiplier = {"K": 1000, "M": 1_000_000, "B": 1_000_000_000}[raw[-1]]
        raw = raw[:-1]
    if "," in raw and "." in raw:
        raw = (
            raw.replace(",", "")
            if raw.rfind(".") > raw.rfind(",")
            else (raw.replace(".", "").replace(",", "."))
        )
    elif "," in raw:
        head, _sep, tail = raw.rpartition(",")
        raw = raw.replace(",", "") if len(tail) == 3 else f"{head.replace(',', '')}.{tail}"
    try:
        number = decimal.Decimal(raw) * multiplier
    except decimal.InvalidOperation:
        raise CellError(_("Enter a number."))
    if not number.is_finite():
        raise CellError(_("Enter a number."))
    # Checked before rounding: quantizing 1E100 overflows the decimal context.
    if number and number.adjusted() >= max_digits - places:
        raise CellError(_("This number is too large."))
    number = number.quantize(decimal.Decimal(1).scaleb(-places))
    if len(number.as_tuple().digits) > max_digits:
        raise CellError(_("This number is too large."))
    return number


def parse_int(text: str) -> int:
    value = parse_decimal(text, places=0)
    return int(value)


_COUNTRY_ALIASES = {
    "usa": "US",
    "us": "US",
    "unitedstatesofamerica": "US",
    "america": "US",
    "uk": "GB",
    "greatbritain": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "britain": "GB",
    "unitedkingdom": "GB",
    "russia": "RU",
    "southkorea": "KR",
    "korea": "KR",
    "northkorea": "KP",
    "czechia": "CZ",
    "czechrepublic": "CZ",
    "holland": "NL",
    "thenetherlands": "NL",
    "uae": "AE",
    "deutschland": "DE",
    "espana": "ES",
    "italia": "IT",
    "bulgarien": "BG",
    "българия": "BG",
    "vietnam": "VN",
    "iran": "IR",
    "syria": "SY",
    "taiwan": "TW",
    "bolivia": "BO",
    "venezuela": "VE",
    "tanzania": "TZ",
    "moldova": "MD",
    "laos": "LA",
    "turkey": "TR",
    "turkiye": "TR",
}
_countries: dict[str, str] | None = None


def _country_table() -> dict[str, str]:
    global _countries
    if _countries is None:
        from django.utils import translation

        from pulse.core.countries import COUNTRY_CHOICES

        table = dict(_COUNTRY_ALIASES)
        for code, label in COUNTRY_CHOICES:
            table[code.casefold()] = code
            with translation.override("en"):
                table[fold_key(str(label))] = code
        _countries = table
    return _countries


def parse_country(text: str) -> str:
    """``"Bulgaria"``, ``"bg"``, ``"United States of America"``, ``"UK"`` → ISO code."""
    code = _country_table().get(fold_key(text)) or _country_table().get(text.strip().casefold())
    if code is None:
        raise CellError(_("Unknown country; use its name or a two-letter code such as BG."))
    return code


def choice_table(choices, aliases: dict[str, str] | None = None) -> dict[str, str]:
    """{folded value or label or alias: stored value} for a TextChoices class."""
    table = {}
    for value, label in choices:
        table[fold_key(value)] = value
        table[fold_key(str(label))] = value
    for alias, value in (aliases or {}).items():
        table[fold_key(alias)] = value
    return table


def split_multi(text: str) -> list[str]:
    """``"a; b, c ::: d | e"`` → ``["a", "b", "c", "d", "e"]`` (order kept, no repeats)."""
    parts = re.split(r"\s*(?::::|[;,|\n])\s*", text)
    return list(dict.fromkeys(p.strip() for p in parts if p and p.strip()))
