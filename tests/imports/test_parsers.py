"""Reading import files: formats, encodings, delimiters, headers, broken input."""

from __future__ import annotations

import codecs
import csv
import io
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pulse.imports import parsers
from pulse.imports.export import vcard
from pulse.imports.parsers import ImportFileError, analyse, data_rows
from pulse.imports.values import (
    CellError,
    is_formula_like,
    parse_country,
    parse_date,
    parse_decimal,
    unneutralise,
)


def _write(tmp_path, content: bytes, name="file.csv"):
    path = tmp_path / name
    path.write_bytes(content)
    return path


def _rows(path, info):
    return list(
        data_rows(
            path,
            info.file_format,
            encoding=info.encoding,
            delimiter=info.delimiter,
            has_header=info.has_header,
            width=len(info.headers),
        )
    )


# --- encodings and delimiters ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "encoding"),
    [
        ("Name\nJosé\n".encode(), "utf-8-sig"),
        (codecs.BOM_UTF8 + "Name\nJosé\n".encode(), "utf-8-sig"),
        ("Name\nJosé – ok\n".encode("cp1252"), "cp1252"),
        (b"Name\nJos\x81\n", "latin-1"),  # 0x81 is undefined in Windows-1252
        ("Name\nJosé\n".encode("utf-16"), "utf-16"),
    ],
)
def test_encoding_is_detected(tmp_path, content, encoding):
    info = analyse(_write(tmp_path, content), "file.csv")
    assert info.encoding == encoding
    assert info.headers == ["Name"]
    assert info.sample[0].cells[0].startswith("Jos")


def test_a_broken_line_in_a_utf8_file_is_reported_not_guessed(tmp_path):
    good = "".join(f"Café {n}\n" for n in range(40)).encode()
    path = _write(tmp_path, b"Name\n" + good + b"Bad \xff\xfe line\n")
    info = analyse(path, "file.csv")
    assert info.encoding == "utf-8-sig"
    assert info.warnings[0].startswith("Some lines are not valid UTF-8")
    rows = _rows(path, info)
    assert rows[-1].line == 42
    assert rows[-1].error.startswith("This row has characters that are not valid")
    assert all(not r.error for r in rows[:-1])


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiter_is_sniffed(tmp_path, delimiter):
    content = delimiter.join(["First Name", "Email", "City"]) + "\n"
    content += (
        delimiter.join(["Ada", "ada@example.com", "London, UK" if delimiter != "," else "London"])
        + "\n"
    )
    info = analyse(_write(tmp_path, content.encode()), "file.csv")
    assert info.delimiter == delimiter
    assert info.headers == ["First Name", "Email", "City"]


# --- headers and rows -------------------------------------------------------------------------


def test_duplicate_and_blank_headers_are_named_and_reported(tmp_path):
    info = analyse(_write(tmp_path, b"Email,,email,Name\na@x.example,1,b@x.example,Ada\n"), "f.csv")
    assert info.headers == ["Email", "Column 2", "email (2)", "Name"]
    assert info.warnings == [
        "The column name “email” appears more than once; "
        "the copies are numbered, check their mapping.",
        "1 columns have no name; they are called “Column N”.",
    ]


def test_a_file_without_a_header_row_is_recognised(tmp_path):
    info = analyse(
        _write(tmp_path, b"Ada,ada@example.com,+359 2 123 4567\nGrace,grace@example.com,\n"),
        "f.csv",
    )
    assert info.has_header is False
    assert info.headers == ["Column 1", "Column 2", "Column 3"]
    assert [r.cells[0] for r in info.sample] == ["Ada", "Grace"]
    assert info.warnings[0].startswith("The first row looks like data")


def test_ragged_rows_are_padded_or_reported(tmp_path):
    content = b'A,B,C\n1,2\n1,2,3,\n1,2,3,4\n"bad"quote,2,3\n"unterminated,2,3\nmore\n'
    path = _write(tmp_path, content)
    info = analyse(path, "f.csv")
    rows = _rows(path, info)
    assert [(r.line, r.cells, r.error[:30]) for r in rows] == [
        (2, ["1", "2", ""], ""),
        (3, ["1", "2", "3"], ""),
        (4, ["1", "2", "3"], "This row has 4 values but the "),
        (5, [], "A quote inside a value is not "),
        (6, [], "A quoted value starts here and"),
    ]


def test_quoted_newlines_keep_line_numbers_right(tmp_path):
    path = _write(tmp_path, b'Name,Notes\nAda,"two\nlines"\nGrace,one\n')
    rows = _rows(path, analyse(path, "f.csv"))
    assert [(r.line, r.cells) for r in rows] == [(2, ["Ada", "two\nlines"]), (4, ["Grace", "one"])]


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (b"", "f.csv", "The file is empty."),
        (b"\r\n\r\n  \n", "f.csv", "The file is empty."),
        (b"Name,Email\n", "f.csv", "The file has column names but no rows to import."),
        (
            b"\x89PNG\r\n\x1a\n" + b"\x00" * 200,
            "f.csv",
            "This does not look like a CSV, Excel (.xlsx) or vCard file.",
        ),
        (b"PK\x03\x04 not really a zip", "f.xlsx", "This Excel file cannot be read"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "f.xls", "Old Excel files (.xls) cannot be read."),
        (b"hello\nworld\n", "f.vcf", "The file holds no vCards (no BEGIN:VCARD line)."),
    ],
)
def test_unreadable_files_get_a_clear_message(tmp_path, content, name, message):
    with pytest.raises(ImportFileError) as refused:
        analyse(_write(tmp_path, content, name), name)
    assert refused.value.message.startswith(message)


def test_broken_vcards_are_rows_with_errors(tmp_path):
    content = (
        b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ada\r\nN:Lovelace;Ada;;;\r\nEND:VCARD\r\n"
        b"BEGIN:VCARD\r\nVERSION:3.0\r\nN:No;End\r\n"
        b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Grace\r\nEND:VCARD\r\n"
    )
    path = _write(tmp_path, content, "c.vcf")
    info = analyse(path, "c.vcf")
    rows = _rows(path, info)
    assert [(r.line, r.error) for r in rows] == [
        (1, ""),
        (6, "This vCard has no END:VCARD line."),
        (9, ""),
    ]


def test_a_fifty_megabyte_file_is_analysed_without_reading_it_whole(tmp_path):
    path = tmp_path / "big.csv"
    line = b"Ada,Lovelace,ada@example.com,+44 20 7946 0958,Analytical Engines,London\n"
    with open(path, "wb") as out:
        out.write(b"First Name,Last Name,Email,Phone,Company,City\n")
        for _ in range(50 * 1024 * 1024 // len(line) + 1):
            out.write(line)
    assert path.stat().st_size > 50 * 1024 * 1024
    info = analyse(path, "big.csv")
    assert info.total_rows == 50 * 1024 * 1024 // len(line) + 1
    assert len(info.sample) == parsers.PREVIEW_ROWS


# --- values -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "day_first", "iso"),
    [
        ("1990-12-31", True, "1990-12-31"),
        ("31.12.1990", True, "1990-12-31"),
        ("12/31/1990", False, "1990-12-31"),
        ("03/04/1990", True, "1990-04-03"),
        ("03/04/1990", False, "1990-03-04"),
        ("31/12/1990", False, "1990-12-31"),
        ("10 Dec 1815", True, "1815-12-10"),
        ("December 10, 1815", True, "1815-12-10"),
        ("33238", True, "1990-12-31"),
        ("19901231", True, "1990-12-31"),
    ],
)
def test_dates(text, day_first, iso):
    assert parse_date(text, day_first=day_first).isoformat() == iso


@pytest.mark.parametrize("text", ["31.02.1990", "someday", "1990-13-01"])
def test_bad_dates(text):
    with pytest.raises(CellError):
        parse_date(text)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1,200,000.50", "1200000.50"),
        ("1.200.000,50", "1200000.50"),
        ("$ 5000", "5000.00"),
        ("2.5M", "2500000.00"),
        ("EUR 12,5", "12.50"),
    ],
)
def test_decimals(text, value):
    assert str(parse_decimal(text)) == value


@pytest.mark.parametrize("text", ["1E100", "9" * 40, "1" + "0" * 16])
def test_numbers_too_large_for_the_column_are_a_cell_error(text):
    with pytest.raises(CellError):
        parse_decimal(text)


def test_countries():
    assert [
        parse_country(t)
        for t in ("Bulgaria", "bg", "United States of America", "UK", "Côte d'Ivoire")
    ] == ["BG", "BG", "US", "GB", "CI"]
    with pytest.raises(CellError):
        parse_country("Atlantis")


@pytest.mark.parametrize(
    ("text", "formula"),
    [
        ("=SUM(A1)", True),
        ("@cmd", False),
        ("@SUM(1)", True),
        ("+359 2 123", False),
        ("-12.5", False),
        ("+cmd|' /C calc'!A0", True),
        ("-2+3+cmd|' /C calc'!A0", True),
        ("plain", False),
    ],
)
def test_formula_like_cells(text, formula):
    assert is_formula_like(text) is formula


def test_export_neutralisation_is_undone_on_import():
    assert unneutralise("'=1+2") == "=1+2"
    assert unneutralise("'+359") == "+359"
    assert unneutralise("'quoted'") == "'quoted'"


# --- the parsers never crash --------------------------------------------------------------------


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(content=st.binary(max_size=2000), name=st.sampled_from(["f.csv", "f.vcf", "f.txt"]))
def test_any_bytes_give_rows_or_a_clear_error(tmp_path, content, name):
    path = _write(tmp_path, content, name)
    try:
        info = analyse(path, name)
    except ImportFileError as exc:
        assert exc.message
        return
    for row in _rows(path, info):
        assert isinstance(row.line, int) and row.line >= 1
        assert all(isinstance(c, str) for c in row.cells)


cell_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"))
    | st.sampled_from(list(',;"\n\t|=+-@')),
    max_size=30,
)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(st.lists(cell_text, min_size=3, max_size=3), min_size=1, max_size=8),
    delimiter=st.sampled_from([",", ";", "\t"]),
)
def test_csv_round_trip(tmp_path, rows, delimiter):
    rows = [["Alpha", "Beta", "Gamma"], *[[c.replace("\r", "") for c in r] for r in rows]]
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter).writerows(rows)
    path = _write(tmp_path, buffer.getvalue().encode())
    if not any(any(c.strip() for c in r) for r in rows[1:]):
        return  # only blank rows: "no rows to import" (tested above)
    info = analyse(path, "f.csv", delimiter=delimiter, has_header=True)
    read = [r.cells for r in _rows(path, info)]
    expected = [r for r in rows[1:] if any(c.strip() for c in r)]
    assert read == expected


name_text = st.text(alphabet=string.ascii_letters + "àéöÇ ,;:\\'-", min_size=1, max_size=20).filter(
    str.strip
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    first=name_text, last=name_text, notes=st.text(alphabet=string.printable + "é–", max_size=80)
)
def test_vcard_export_reads_back(in_org, tmp_path, first, last, notes):
    from pulse.contacts.models import Contact

    contact = Contact(
        first_name=first.strip(),
        last_name=last.strip(),
        email="a@example.com",
        notes=notes.replace("\r", ""),
    )
    path = _write(tmp_path, vcard(contact).encode(), "c.vcf")
    info = analyse(path, "c.vcf")
    [row] = _rows(path, info)
    values = dict(zip(info.headers, row.cells, strict=True))
    assert (values["First Name"], values["Last Name"], values["E-mail"]) == (
        contact.first_name,
        contact.last_name,
        "a@example.com",
    )
    assert values["Notes"] == contact.notes.replace("\r\n", "\n").strip()
