"""Reading import files: CSV (any delimiter and common encodings), XLSX and vCard 3/4.

Everything streams: rows come one at a time from the stored file, so a file of a
million rows is read in flat memory. A file that cannot be read at all raises
``ImportFileError`` with a message for people; a row that cannot be read comes out as
a ``Row`` with ``error`` set, so the import reports it by line number and goes on.

Line numbers are what a person finds in the file: the physical line a CSV row starts
on (the header is line 1), the sheet row of an XLSX file, the ``BEGIN:VCARD`` line of a
vCard.
"""

from __future__ import annotations

import codecs
import csv
import datetime
import decimal
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from django.utils.translation import gettext as _

SAMPLE_BYTES = 1024 * 1024
SNIFF_BYTES = 64 * 1024
PREVIEW_ROWS = 20
ENCODINGS = ("utf-8-sig", "utf-16", "cp1252", "latin-1")
ENCODING_LABELS = {
    "utf-8-sig": "UTF-8",
    "utf-16": "UTF-16",
    "cp1252": "Windows-1252",
    "latin-1": "Latin-1 (ISO-8859-1)",
}
DELIMITERS = {",": _("Comma"), ";": _("Semicolon"), "\t": _("Tab"), "|": _("Pipe")}
# A cell longer than this is refused (the csv module's own limit is 128 KB).
MAX_CELL = 131072
MAX_COLUMNS = 500
MAX_CARD_LINES = 5000

# vCards become rows with these columns (the mapping step then sees ordinary headers).
VCARD_HEADERS = [
    "Full Name",
    "First Name",
    "Last Name",
    "E-mail",
    "Other E-mails",
    "Phone",
    "Mobile Phone",
    "Organization",
    "Job Title",
    "Department",
    "Street",
    "City",
    "Region",
    "Postal Code",
    "Country",
    "Website",
    "LinkedIn",
    "Birthday",
    "Notes",
    "Categories",
]


class ImportFileError(Exception):
    """The file as a whole cannot be imported; ``message`` says why, for people."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass
class Row:
    """One data row: its line number, its cells (as text) and why it is unreadable."""

    line: int
    cells: list[str]
    error: str = ""


@dataclass
class FileInfo:
    """What analysing a file found: how to read it, its columns and first rows."""

    file_format: str
    encoding: str = ""
    delimiter: str = ""
    has_header: bool = True
    headers: list[str] = field(default_factory=list)
    total_rows: int = 0
    warnings: list[str] = field(default_factory=list)
    sample: list[Row] = field(default_factory=list)


# --- format and encoding ---------------------------------------------------------------


def detect_format(name: str, head: bytes) -> str:
    """``xlsx`` (a zip archive), ``vcf`` (starts with BEGIN:VCARD) or ``csv``."""
    lowered = (name or "").lower()
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if lowered.endswith((".xls",)) and head.startswith(b"\xd0\xcf\x11\xe0"):
        raise ImportFileError(
            _("Old Excel files (.xls) cannot be read. Save the sheet as .xlsx or CSV and retry.")
        )
    text = _sniff_text(head)
    if text.lstrip().upper().startswith("BEGIN:VCARD") or lowered.endswith((".vcf", ".vcard")):
        return "vcf"
    return "csv"


def _sniff_text(head: bytes) -> str:
    for bom, encoding in ((codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if head.startswith(bom):
            return head.decode(encoding, errors="replace")
    return head.decode("utf-8-sig", errors="replace")


def _complete_lines(sample: bytes, at_end: bool) -> bytes:
    """Cut a byte sample after its last newline (a multibyte character may be split)."""
    if at_end:
        return sample
    cut = sample.rfind(b"\n")
    return sample[: cut + 1] if cut > 0 else sample


def detect_encoding(sample: bytes, *, at_end: bool = False) -> tuple[str, str]:
    """The encoding of a byte sample and a warning (empty when the file is clean).

    UTF-8 (with or without BOM) first; UTF-16 by its BOM; a file that is mostly valid
    UTF-8 with a few broken lines stays UTF-8 (those lines are reported); otherwise
    Windows-1252, and Latin-1 for the bytes Windows-1252 leaves undefined.
    """
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", ""
    sample = _complete_lines(sample, at_end)
    try:
        sample.decode("utf-8-sig")
        return "utf-8-sig", ""
    except UnicodeDecodeError:
        pass
    lines = sample.split(b"\n")
    broken = 0
    multibyte = 0
    for line in lines:
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            broken += 1
            continue
        if any(ord(ch) > 127 for ch in text):
            multibyte += 1
    if multibyte and broken * 20 <= multibyte:
        return "utf-8-sig", _(
            "Some lines are not valid UTF-8: they are reported as failed rows. "
            "Choose another encoding if names look wrong in the preview."
        )
    try:
        sample.decode("cp1252")
        return "cp1252", ""
    except UnicodeDecodeError:
        return "latin-1", ""


def detect_delimiter(text: str) -> str:
    """The delimiter of a CSV sample: ``csv.Sniffer``, else the commonest in the header."""
    lines = [line for line in text.splitlines() if line.strip()][:50]
    if not lines:
        return ","
    sample = "\n".join(lines)
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
        if dialect.delimiter in DELIMITERS:
            return dialect.delimiter
    except csv.Error:
        pass
    counts = {d: lines[0].count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


# --- cells --------------------------------------------------------------------------------


def cell_text(value) -> str:
    """An XLSX cell value as import text (dates as ISO, whole floats without ``.0``)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime.datetime):
        if value.time() == datetime.time(0, 0):
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return format(decimal.Decimal(repr(value)), "f")
    return str(value)


def unique_headers(cells: list[str]) -> tuple[list[str], list[str]]:
    """Headers with blanks named ``Column N`` and repeats numbered; plus warnings."""
    headers: list[str] = []
    warnings: list[str] = []
    seen: dict[str, int] = {}
    blanks = 0
    for index, cell in enumerate(cells, 1):
        name = " ".join((cell or "").split())[:200]
        if not name:
            name = _("Column %(n)d") % {"n": index}
            blanks += 1
        key = name.casefold()
        if key in seen:
            seen[key] += 1
            warnings.append(
                _(
                    "The column name “%(name)s” appears more than once; "
                    "the copies are numbered, check their mapping."
                )
                % {"name": name}
            )
            name = f"{name} ({seen[key]})"
        else:
            seen[key] = 1
        headers.append(name)
    if blanks:
        warnings.append(
            _("%(n)d columns have no name; they are called “Column N”.") % {"n": blanks}
        )
    return headers, list(dict.fromkeys(warnings))


_DATA_LIKE = re.compile(r"(@.+\.)|^[\d\s+().\-/]{6,}$|^\d{4}-\d{2}-\d{2}$")


def looks_like_data(cells: list[str]) -> bool:
    """True when a first row holds values (emails, numbers, dates) rather than names."""
    filled = [c.strip() for c in cells if c and c.strip()]
    if not filled:
        return False
    data_like = sum(1 for c in filled if _DATA_LIKE.search(c))
    return data_like >= max(1, len(filled) // 3)


# --- CSV ----------------------------------------------------------------------------------


class _LineDecoder:
    """Decodes a binary file line by line, remembering lines that do not decode."""

    def __init__(self, stream, encoding: str):
        self.stream = stream
        self.encoding = encoding
        self.bad_lines: set[int] = set()
        self.line = 0

    def __iter__(self) -> Iterator[str]:
        if self.encoding == "utf-16":
            text = io.TextIOWrapper(self.stream, encoding="utf-16", errors="replace", newline="")
            for line in text:
                self.line += 1
                if "\ufffd" in line:
                    self.bad_lines.add(self.line)
                yield line.replace("\x00", "")
            return
        first = True
        for raw in self.stream:
            self.line += 1
            if first:
                first = False
                if raw.startswith(codecs.BOM_UTF8):
                    raw = raw[len(codecs.BOM_UTF8) :]
            try:
                line = raw.decode(self.encoding)
            except UnicodeDecodeError:
                self.bad_lines.add(self.line)
                line = raw.decode(self.encoding, errors="replace")
            yield line.replace("\x00", "")


def _broken_line_error(first: int, last: int) -> str:
    return _(
        "This row has characters that are not valid in the file's encoding; "
        "save the file as UTF-8 or choose its encoding."
    )


def _csv_error(exc: csv.Error) -> str:
    why = str(exc)
    if "unexpected end of data" in why:
        return _(
            'A quoted value starts here and is never closed (a missing "?); '
            "the rest of the file could not be read."
        )
    if "expected after" in why:
        return _('A quote inside a value is not doubled (write "" for a " inside quotes).')
    if "field larger than field limit" in why:
        return _("A value in this row is longer than 128 KB.")
    return _("This row cannot be read (%(why)s).") % {"why": why}


def iter_csv(stream, *, encoding: str, delimiter: str) -> Iterator[Row]:
    """Every row of a CSV stream (header included), with the line each starts on."""
    decoder = _LineDecoder(stream, encoding)
    reader = csv.reader(iter(decoder), delimiter=delimiter or ",", quotechar='"', strict=True)
    previous_end = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            start, previous_end = previous_end + 1, reader.line_num
            yield Row(start, [], _csv_error(exc))
            continue
        start, previous_end = previous_end + 1, reader.line_num
        bad = decoder.bad_lines
        if bad and any(n in bad for n in range(start, previous_end + 1)):
            yield Row(start, cells, _broken_line_error(start, previous_end))
            continue
        yield Row(start, cells)


# --- XLSX ---------------------------------------------------------------------------------


def _open_workbook(path):
    import zipfile

    from openpyxl import load_workbook

    try:
        return load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError) as exc:
        raise ImportFileError(
            _("This Excel file cannot be read (%(why)s). Open it in Excel and save it again.")
            % {"why": exc.__class__.__name__}
        )
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many types on broken files
        raise ImportFileError(
            _("This Excel file cannot be read (%(why)s). Open it in Excel and save it again.")
            % {"why": exc.__class__.__name__}
        )


def iter_xlsx(path) -> Iterator[Row]:
    """Rows of the first sheet (header included), numbered as the sheet numbers them."""
    workbook = _open_workbook(path)
    try:
        sheet = workbook.worksheets[0] if workbook.worksheets else None
        if sheet is None:
            return
        for number, values in enumerate(sheet.iter_rows(values_only=True), 1):
            cells = [cell_text(v) for v in values[:MAX_COLUMNS]]
            while cells and cells[-1] == "":
                cells.pop()
            yield Row(number, cells)
    finally:
        workbook.close()


def xlsx_row_count(path) -> int:
    workbook = _open_workbook(path)
    try:
        if not workbook.worksheets:
            return 0
        sheet = workbook.worksheets[0]
        return max(0, (sheet.max_row or 0))
    finally:
        workbook.close()


# --- vCard ----------------------------------------------------------------------------------


def _vcard_text(value) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value if v)
    return str(value or "").strip()


def _types(prop) -> set[str]:
    found = set()
    for value in prop.params.get("TYPE", []):
        found.update(t.strip().lower() for t in str(value).split(","))
    return found


def vcard_cells(card) -> list[str]:
    """One parsed vCard as cells under ``VCARD_HEADERS``."""
    values = dict.fromkeys(VCARD_HEADERS, "")
    contents = card.contents
    if "fn" in contents:
        values["Full Name"] = _vcard_text(contents["fn"][0].value)
    if "n" in contents:
        name = contents["n"][0].value
        values["First Name"] = _vcard_text(getattr(name, "given", ""))
        values["Last Name"] = _vcard_text(getattr(name, "family", ""))
    emails = [str(e.value).strip() for e in contents.get("email", []) if str(e.value).strip()]
    preferred = [
        str(e.value).strip()
        for e in contents.get("email", [])
        if "pref" in _types(e) or e.params.get("PREF")
    ]
    if preferred and preferred[0] in emails:
        emails.remove(preferred[0])
        emails.insert(0, preferred[0])
    if emails:
        values["E-mail"] = emails[0]
        values["Other E-mails"] = "; ".join(emails[1:])
    for tel in contents.get("tel", []):
        number = str(tel.value).strip()
        if number.lower().startswith("tel:"):
            number = number[4:]
        kinds = _types(tel)
        slot = "Mobile Phone" if kinds & {"cell", "mobile", "iphone"} else "Phone"
        if not values[slot]:
            values[slot] = number
        elif slot == "Phone" and not values["Mobile Phone"] and not kinds:
            continue
    if "org" in contents:
        org = contents["org"][0].value
        parts = org if isinstance(org, list) else [org]
        values["Organization"] = str(parts[0]).strip() if parts else ""
        values["Department"] = ", ".join(str(p).strip() for p in parts[1:] if str(p).strip())
    if "title" in contents:
        values["Job Title"] = _vcard_text(contents["title"][0].value)
    if "adr" in contents:
        adr = contents["adr"][0].value
        values["Street"] = _vcard_text(getattr(adr, "street", ""))
        values["City"] = _vcard_text(getattr(adr, "city", ""))
        values["Region"] = _vcard_text(getattr(adr, "region", ""))
        values["Postal Code"] = _vcard_text(getattr(adr, "code", ""))
        values["Country"] = _vcard_text(getattr(adr, "country", ""))
    for url in contents.get("url", []) + contents.get("x-socialprofile", []):
        link = str(url.value).strip()
        if "linkedin." in link.lower():
            values["LinkedIn"] = values["LinkedIn"] or link
        elif not values["Website"]:
            values["Website"] = link
    if "bday" in contents:
        values["Birthday"] = _vcard_text(contents["bday"][0].value)
    if "note" in contents:
        values["Notes"] = _vcard_text(contents["note"][0].value)
    if "categories" in contents:
        values["Categories"] = "; ".join(
            str(c).strip() for c in contents["categories"][0].value if str(c).strip()
        )
    return [values[h] for h in VCARD_HEADERS]


def iter_vcards(stream, *, encoding: str) -> Iterator[Row]:
    """One row per vCard (no header row), numbered by its ``BEGIN:VCARD`` line."""
    import vobject

    decoder = _LineDecoder(stream, encoding)
    card: list[str] | None = None
    start = 0
    for line in decoder:
        stripped = line.strip()
        upper = stripped.upper()
        if upper == "BEGIN:VCARD":
            if card is not None:
                yield Row(start, [], _("This vCard has no END:VCARD line."))
            card, start = [stripped], decoder.line
            continue
        if card is None:
            continue
        card.append(line.rstrip("\r\n"))
        if len(card) > MAX_CARD_LINES:
            yield Row(start, [], _("This vCard is too long to be a contact."))
            card = None
            continue
        if upper == "END:VCARD":
            text = "\r\n".join(card) + "\r\n"
            card = None
            if any(n in decoder.bad_lines for n in range(start, decoder.line + 1)):
                yield Row(start, [], _broken_line_error(start, decoder.line))
                continue
            try:
                parsed = vobject.readOne(text, ignoreUnreadable=True)
                yield Row(start, vcard_cells(parsed))
            except Exception as exc:  # noqa: BLE001 - vobject raises many types
                yield Row(
                    start,
                    [],
                    _("This vCard cannot be read (%(why)s).") % {"why": str(exc)[:200]},
                )
    if card is not None:
        yield Row(start, [], _("This vCard has no END:VCARD line."))


# --- one interface for every format ---------------------------------------------------------


def raw_rows(path, file_format: str, *, encoding: str = "", delimiter: str = "") -> Iterator[Row]:
    """Every row of the file as the reader sees it (a CSV/XLSX header row included)."""
    if file_format == "xlsx":
        yield from iter_xlsx(path)
        return
    with open(path, "rb") as stream:
        if file_format == "vcf":
            yield from iter_vcards(stream, encoding=encoding or "utf-8-sig")
        else:
            yield from iter_csv(stream, encoding=encoding or "utf-8-sig", delimiter=delimiter)


def _nonblank(rows: Iterable[Row]) -> Iterator[Row]:
    for row in rows:
        if row.error or any(c.strip() for c in row.cells):
            yield row


def data_rows(
    path,
    file_format: str,
    *,
    encoding: str = "",
    delimiter: str = "",
    has_header: bool = True,
    width: int | None = None,
) -> Iterator[Row]:
    """The data rows (header skipped, blank rows dropped), padded to ``width`` cells.

    A row with more non-empty cells than the header has columns is an error row.
    """
    rows = _nonblank(raw_rows(path, file_format, encoding=encoding, delimiter=delimiter))
    if has_header and file_format != "vcf":
        next(rows, None)
    for row in rows:
        if row.error or width is None:
            yield row
            continue
        cells = row.cells
        if len(cells) > width:
            extra = [c for c in cells[width:] if c.strip()]
            if extra:
                yield Row(
                    row.line,
                    cells[:width],
                    _(
                        "This row has %(found)d values but the file has %(width)d columns "
                        "(a missing quote or an extra delimiter?)."
                    )
                    % {"found": len(cells), "width": width},
                )
                continue
            cells = cells[:width]
        elif len(cells) < width:
            cells = cells + [""] * (width - len(cells))
        yield Row(row.line, cells)


def _count_lines(path) -> int:
    count = 0
    with open(path, "rb") as stream:
        while chunk := stream.read(1024 * 1024):
            count += chunk.count(b"\n")
    return count


def _count_vcards(path) -> int:
    count = 0
    tail = b""
    with open(path, "rb") as stream:
        while chunk := stream.read(1024 * 1024):
            block = (tail + chunk).upper()
            count += block.count(b"BEGIN:VCARD")
            tail = chunk[-11:]
            count -= tail.upper().count(b"BEGIN:VCARD")
    return count


def analyse(
    path,
    name: str,
    *,
    encoding: str = "",
    delimiter: str = "",
    has_header: bool | None = None,
) -> FileInfo:
    """Find how to read a stored file: format, encoding, delimiter, headers, first rows.

    ``encoding``/``delimiter``/``has_header`` override what detection would choose.
    Raises ``ImportFileError`` for an empty or unreadable file.
    """
    with open(path, "rb") as stream:
        head = stream.read(SAMPLE_BYTES)
        at_end = not stream.read(1)
    if not head.strip(b" \t\r\n\x00\xef\xbb\xbf\xff\xfe"):
        raise ImportFileError(_("The file is empty."))
    file_format = detect_format(name, head)
    info = FileInfo(file_format=file_format)
    if file_format in ("csv", "vcf"):
        if head.count(b"\x00") > len(head) // 10 and not head.startswith(
            (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
        ):
            raise ImportFileError(_("This does not look like a CSV, Excel (.xlsx) or vCard file."))
        detected, warning = detect_encoding(head, at_end=at_end)
        info.encoding = encoding if encoding in ENCODINGS else detected
        if warning and info.encoding == detected:
            info.warnings.append(warning)
    if file_format == "csv":
        text = (
            _sniff_text(head[:SNIFF_BYTES])
            if info.encoding in ("utf-8-sig", "utf-16")
            else (head[:SNIFF_BYTES].decode(info.encoding, errors="replace"))
        )
        info.delimiter = delimiter if delimiter in DELIMITERS else detect_delimiter(text)
    rows = _nonblank(raw_rows(path, file_format, encoding=info.encoding, delimiter=info.delimiter))
    if file_format == "vcf":
        info.has_header = False
        info.headers = list(VCARD_HEADERS)
        info.sample = [r for _i, r in zip(range(PREVIEW_ROWS), rows, strict=False)]
        info.total_rows = _count_vcards(path)
        if not info.total_rows:
            raise ImportFileError(_("The file holds no vCards (no BEGIN:VCARD line)."))
        return info
    first = next(rows, None)
    if first is None:
        raise ImportFileError(_("The file has no rows."))
    if first.error:
        raise ImportFileError(_("The first row cannot be read: %(why)s") % {"why": first.error})
    if len(first.cells) > MAX_COLUMNS:
        raise ImportFileError(
            _("The file has %(n)d columns; at most %(max)d can be imported.")
            % {"n": len(first.cells), "max": MAX_COLUMNS}
        )
    if has_header is None:
        has_header = not looks_like_data(first.cells)
        if not has_header:
            info.warnings.append(
                _(
                    "The first row looks like data, not column names: it is imported as a "
                    "row. Tick “The first row holds column names” if that is wrong."
                )
            )
    info.has_header = has_header
    if has_header:
        info.headers, header_warnings = unique_headers(first.cells)
        info.warnings += header_warnings
        sample_source = rows
    else:
        info.headers = [_("Column %(n)d") % {"n": i} for i in range(1, len(first.cells) + 1)]
        sample_source = _chain_first(first, rows)
    info.sample = [r for _i, r in zip(range(PREVIEW_ROWS), sample_source, strict=False)]
    if file_format == "xlsx":
        info.total_rows = max(0, xlsx_row_count(path) - (1 if has_header else 0))
    else:
        lines = _count_lines(path)
        info.total_rows = max(0, lines - (1 if has_header else 0))
        if at_end and not head.endswith(b"\n"):
            info.total_rows += 1
    if has_header and not info.sample:
        raise ImportFileError(_("The file has column names but no rows to import."))
    return info


def _chain_first(first: Row, rows: Iterator[Row]) -> Iterator[Row]:
    yield first
    yield from rows
