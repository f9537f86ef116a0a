"""Exchange-rate services, the CSV import (with a property test of its parser), the rates
page and the API's import and convert actions."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from hypothesis import given, settings
from hypothesis import strategies as st

from pulse.accounts.models import Role
from pulse.audit.models import AuditEntry
from pulse.core.errors import ApplicationError, PermissionDeniedError
from pulse.core.tenancy import tenant_context
from pulse.core.testing import api_client, assert_error_shape
from pulse.core.testing.records import snapshot
from pulse.currencies.models import ExchangeRate
from pulse.currencies.selectors import convert
from pulse.currencies.services import (
    IMPORT_HEADER,
    exchangerate_create,
    exchangerate_delete,
    exchangerate_import,
    exchangerate_update,
    parse_exchange_rates,
)
from tests.accounts.factories import make_member
from tests.conftest import login

D = datetime.date


def _csv(*rows: str, header: str = "currency,rate,valid_from") -> SimpleUploadedFile:
    text = "\n".join([header, *rows]) + "\n"
    return SimpleUploadedFile("rates.csv", text.encode(), content_type="text/csv")


# --- services ----------------------------------------------------------------------------------


def test_create_update_delete_are_audited(in_org, owner):
    rate = exchangerate_create(
        org=in_org, actor=owner, currency="usd", rate=Decimal("0.92"), valid_from=D(2026, 1, 1)
    )
    assert (rate.currency, rate.source) == ("USD", "manual")

    exchangerate_update(exchange_rate=rate, actor=owner, rate=Decimal("0.93"))
    exchangerate_delete(exchange_rate=rate, actor=owner)

    actions = list(
        AuditEntry.objects.filter(object_id=str(rate.pk))
        .order_by("created_at")
        .values_list("action", flat=True)
    )
    assert actions == ["create", "update", "delete"]
    assert ExchangeRate.trash.filter(pk=rate.pk).exists()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"currency": "EUR"}, "currency"),  # the organization's own
        ({"currency": "XXY"}, "currency"),
        ({"rate": Decimal("0")}, "rate"),
        ({"rate": Decimal("-1")}, "rate"),
        ({"valid_from": None}, "valid_from"),
    ],
)
def test_invalid_rate_is_refused(in_org, owner, fields, field):
    data = {"currency": "USD", "rate": Decimal("0.9"), "valid_from": D(2026, 1, 1), **fields}
    with pytest.raises(ApplicationError) as exc:
        exchangerate_create(org=in_org, actor=owner, **data)
    assert field in exc.value.errors
    assert not ExchangeRate.objects.exists()


def test_one_rate_per_currency_and_day(in_org, owner):
    exchangerate_create(
        org=in_org, actor=owner, currency="USD", rate=Decimal("0.9"), valid_from=D(2026, 1, 1)
    )
    with pytest.raises(ApplicationError, match="already has a rate from that day"):
        exchangerate_create(
            org=in_org, actor=owner, currency="USD", rate=Decimal("0.8"), valid_from=D(2026, 1, 1)
        )
    assert ExchangeRate.objects.count() == 1


@pytest.mark.parametrize("role", [Role.MANAGER, Role.SALES_REP, Role.READ_ONLY])
def test_only_admins_maintain_rates(in_org, owner, role):
    user = make_member(in_org, role)
    rate = exchangerate_create(
        org=in_org, actor=owner, currency="USD", rate=Decimal("0.9"), valid_from=D(2026, 1, 1)
    )
    before = snapshot(rate)

    with pytest.raises(PermissionDeniedError):
        exchangerate_update(exchange_rate=rate, actor=user, rate=Decimal("5"))
    with pytest.raises(PermissionDeniedError):
        exchangerate_delete(exchange_rate=rate, actor=user)
    with pytest.raises(PermissionDeniedError):
        exchangerate_import(org=in_org, actor=user, file=_csv("GBP,1.1,2026-01-01"))

    assert snapshot(rate) == before
    assert ExchangeRate.objects.count() == 1


# --- import ------------------------------------------------------------------------------------


def test_import_creates_updates_and_keeps(in_org, owner):
    exchangerate_create(
        org=in_org, actor=owner, currency="USD", rate=Decimal("0.9"), valid_from=D(2026, 1, 1)
    )
    exchangerate_create(
        org=in_org, actor=owner, currency="USD", rate=Decimal("0.91"), valid_from=D(2026, 2, 1)
    )

    result = exchangerate_import(
        org=in_org,
        actor=owner,
        file=_csv("usd,0.95,2026-01-01", "USD,0.91,2026-02-01", "GBP, 1.17 ,2026-01-01", ""),
    )

    assert (result.created, result.updated, result.unchanged) == (1, 1, 1)
    rates = {(r.currency, r.valid_from): (r.rate, r.source) for r in ExchangeRate.objects.all()}
    assert rates == {
        ("USD", D(2026, 1, 1)): (Decimal("0.95000000"), "import"),
        ("USD", D(2026, 2, 1)): (Decimal("0.91000000"), "manual"),
        ("GBP", D(2026, 1, 1)): (Decimal("1.17000000"), "import"),
    }


def test_import_reports_every_bad_line_and_imports_nothing(in_org, owner):
    file = _csv(
        "USD,0.9,2026-01-01",
        "EUR,1,2026-01-01",  # line 3: own currency
        "ZZZ,abc,01/02/2026",  # line 4: three problems
        "GBP,1.1",  # line 5: a value missing
        "USD,0.8,2026-01-01",  # line 6: same day as line 2
        "CHF,0.000000001,2026-01-01",  # line 7: 9 decimals
    )

    with pytest.raises(ApplicationError) as exc:
        exchangerate_import(org=in_org, actor=owner, file=file)

    lines = exc.value.errors["file"]
    assert [m.split(":")[0] for m in lines] == [
        "Line 3",
        "Line 4",
        "Line 5",
        "Line 6",
        "Line 7",
    ]
    assert "own currency" in lines[0]
    assert "ISO 4217" in lines[1] and "not a rate" in lines[1] and "not a date" in lines[1]
    assert "Expected 3 values, found 2" in lines[2]
    assert "already on line 2" in lines[3]
    assert exc.value.message == "Nothing was imported: 5 line(s) need fixing."
    assert not ExchangeRate.objects.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"code,value,day\nUSD,1,2026-01-01\n", "must name the columns"),
        (b"\xff\xfe\x00bad", "not UTF-8"),
        (b"currency,rate,valid_from\n", "holds no rates"),
    ],
)
def test_import_refuses_files_that_are_not_rate_files(in_org, owner, content, message):
    with pytest.raises(ApplicationError) as exc:
        exchangerate_import(org=in_org, actor=owner, file=SimpleUploadedFile("x.csv", content))
    assert message in " ".join(exc.value.errors["file"])
    assert not ExchangeRate.objects.exists()


def test_import_accepts_any_column_order_and_a_bom(in_org, owner):
    file = SimpleUploadedFile(
        "r.csv", "\ufeffvalid_from,Currency,RATE\r\n2026-03-01,JPY,0.0061\r\n".encode()
    )
    result = exchangerate_import(org=in_org, actor=owner, file=file)
    assert result.created == 1
    assert ExchangeRate.objects.get().rate == Decimal("0.00610000")


_good_row = st.tuples(
    st.sampled_from(["USD", "GBP", "JPY", "CHF", "BGN"]),
    st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal("99999"), places=8),
    st.dates(min_value=D(2000, 1, 1), max_value=D(2099, 12, 31)),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_good_row, max_size=30, unique_by=lambda r: (r[0], r[2])))
def test_parser_reads_back_every_good_row(rows):
    text = "currency,rate,valid_from\n" + "".join(f"{c},{r},{d.isoformat()}\n" for c, r, d in rows)

    parsed = parse_exchange_rates(text, base_currency="EUR")

    assert parsed.errors == []
    assert [(r.currency, r.rate, r.valid_from) for r in parsed.rows] == rows
    assert [r.line for r in parsed.rows] == list(range(2, len(rows) + 2))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_parser_never_crashes_and_accounts_for_every_line(text):
    parsed = parse_exchange_rates("currency,rate,valid_from\n" + text, base_currency="EUR")

    assert all(isinstance(line, int) and line >= 2 for line, _message in parsed.errors)
    assert all(r.rate > 0 and r.currency != "EUR" for r in parsed.rows)
    reported = {r.line for r in parsed.rows} | {line for line, _m in parsed.errors}
    assert len(reported) == len(parsed.rows) + len(parsed.errors)  # one verdict per line


@settings(max_examples=100, deadline=None)
@given(st.lists(_good_row, min_size=1, max_size=10), st.integers(min_value=0, max_value=9))
def test_one_bad_row_fails_the_file_naming_its_line(rows, bad_index):
    bad_index %= len(rows)
    body = [f"{c},{r},{d.isoformat()}" for c, r, d in rows]
    body[bad_index] = "EUR,1,2026-01-01"
    text = ",".join(IMPORT_HEADER) + "\n" + "\n".join(body) + "\n"

    parsed = parse_exchange_rates(text, base_currency="EUR")

    assert bad_index + 2 in {line for line, _m in parsed.errors}


# --- the page ----------------------------------------------------------------------------------


def test_rates_page_summary_history_and_convert(org, owner):
    with tenant_context(org, actor=owner):
        for day, value in ((D(2026, 1, 1), "0.90"), (D(2026, 2, 1), "0.95")):
            exchangerate_create(
                org=org, actor=owner, currency="USD", rate=Decimal(value), valid_from=day
            )
    client = login(owner, org)

    page = client.get(
        reverse("currencies:exchangerate_list"),
        {"currency": "USD", "amount": "100", "date": "2026-01-20"},
    )

    html = page.content.decode()
    assert page.status_code == 200
    assert "History of USD" in html
    assert "100.00 USD" in html and "90.00 EUR" in html
    assert "valid from 2026-01-01" in html

    partial = client.get(
        reverse("currencies:exchangerate_convert"),
        {"amount": "10", "currency": "USD", "date": "2026-03-01"},
        HTTP_HX_REQUEST="true",
    )
    assert partial.status_code == 200
    assert "9.50 EUR" in partial.content.decode() and "<html" not in partial.content.decode()
    bad = client.get(reverse("currencies:exchangerate_convert"), {"amount": "x", "currency": "?"})
    assert bad.status_code == 400


def test_rates_page_import_shows_every_bad_line(org, owner):
    client = login(owner, org)

    response = client.post(
        reverse("currencies:exchangerate_import"),
        {"file": _csv("USD,0.9,2026-01-01", "USD,oops,2026-01-02")},
    )

    assert response.status_code == 400
    assert "Line 3: “oops” is not a rate" in response.content.decode()
    assert not ExchangeRate.objects.unscoped().exists()

    ok = client.post(
        reverse("currencies:exchangerate_import"), {"file": _csv("USD,0.9,2026-01-01")}
    )
    assert ok.status_code == 302
    assert ExchangeRate.objects.unscoped().filter(organization=org).count() == 1


def test_reps_read_rates_but_do_not_get_the_forms(org, owner, rep):
    with tenant_context(org, actor=owner):
        exchangerate_create(
            org=org, actor=owner, currency="USD", rate=Decimal("0.9"), valid_from=D(2026, 1, 1)
        )
    page = login(rep, org).get(reverse("currencies:exchangerate_list"))
    assert page.status_code == 200
    assert 'data-testid="import-rates"' not in page.content.decode()
    denied = login(rep, org).post(
        reverse("currencies:exchangerate_import"), {"file": _csv("GBP,1.1,2026-01-01")}
    )
    assert denied.status_code == 403


def test_rates_page_query_count_is_pinned(org, owner, django_assert_max_num_queries):
    with tenant_context(org, actor=owner):
        for n in range(30):
            exchangerate_create(
                org=org,
                actor=owner,
                currency=("USD", "GBP", "JPY")[n % 3],
                rate=Decimal("1.1"),
                valid_from=D(2026, 1, 1) + datetime.timedelta(days=n),
            )
    client = login(owner, org)
    url = reverse("currencies:exchangerate_list") + "?amount=5&currency=USD"
    client.get(url)
    with django_assert_max_num_queries(10):
        response = client.get(url)
    assert response.status_code == 200


# --- the API -----------------------------------------------------------------------------------


def test_api_import_and_convert(org, owner):
    client = api_client(owner, org)

    bad = client.post(
        "/api/crm/exchange-rates/import/",
        {"file": _csv("USD,0.9,2026-01-01", "EUR,1,2026-01-01")},
        format="multipart",
    )
    errors = assert_error_shape(bad, 400, {"file"})
    assert errors["file"] == [
        "Line 3: EUR is the organization's own currency; its rate is always 1."
    ]
    assert not ExchangeRate.objects.unscoped().exists()

    ok = client.post(
        "/api/crm/exchange-rates/import/",
        {"file": _csv("USD,0.9,2026-01-01", "USD,0.95,2026-02-01")},
        format="multipart",
    )
    assert ok.json() == {"created": 2, "updated": 0, "unchanged": 0}

    converted = client.get(
        "/api/crm/exchange-rates/convert/",
        {"amount": "200", "currency": "USD", "date": "2026-01-31"},
    )
    assert converted.json() == {
        "amount": "180.00",
        "currency": "EUR",
        "rate": "0.90000000",
        "rate_date": "2026-01-01",
    }
    same = client.get("/api/crm/exchange-rates/convert/", {"amount": "7", "currency": "EUR"})
    assert same.json() == {
        "amount": "7.00",
        "currency": "EUR",
        "rate": "1.00000000",
        "rate_date": None,
    }
    unknown = client.get("/api/crm/exchange-rates/convert/", {"amount": "7", "currency": "JPY"})
    assert "No exchange rate is known for JPY." in assert_error_shape(unknown, 400)["currency"]
    invalid = client.get(
        "/api/crm/exchange-rates/convert/", {"amount": "-1", "currency": "US", "date": "x"}
    )
    assert set(assert_error_shape(invalid, 400)) == {"amount", "currency", "date"}


def test_api_import_is_refused_to_reps(org, owner, rep):
    response = api_client(rep, org).post(
        "/api/crm/exchange-rates/import/", {"file": _csv("USD,0.9,2026-01-01")}, format="multipart"
    )
    assert response.status_code == 403
    assert not ExchangeRate.objects.unscoped().exists()


def test_converter_uses_the_latest_rate_on_or_before_the_day(in_org, owner):
    for day, value in ((D(2026, 1, 1), "0.90"), (D(2026, 2, 1), "0.95")):
        exchangerate_create(
            org=in_org, actor=owner, currency="USD", rate=Decimal(value), valid_from=day
        )
    assert convert(in_org, Decimal("10"), "USD", D(2026, 1, 31)).amount == Decimal("9.00")
    assert convert(in_org, Decimal("10"), "USD", D(2026, 2, 1)).amount == Decimal("9.50")
    assert convert(in_org, Decimal("10"), "USD", D(2025, 6, 1)).rate_date == D(2026, 1, 1)
