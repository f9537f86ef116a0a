"""@mentions: the parser (property-tested), notifying each newly mentioned member once,
the member search behind the autocomplete, and the highlighted rendering."""

from __future__ import annotations

from django.urls import reverse
from hypothesis import given, settings
from hypothesis import strategies as st

from pulse.activities.services import (
    activity_create,
    activity_update,
    mention_text,
    mentions_parse,
    sanitize_rich_text,
)
from pulse.activities.templatetags.activities_reminders import mentions
from pulse.extras.models import Notification
from tests.accounts.factories import make_member
from tests.activities.factories import make_activity

# --- the parser -------------------------------------------------------------------------

names = st.text(
    alphabet=st.characters(whitelist_categories=("L",), whitelist_characters=" .'-"),
    min_size=1,
    max_size=40,
).filter(lambda s: s.strip())
user_ids = st.integers(min_value=1, max_value=10**12)
local_parts = st.from_regex(r"[a-z][a-z0-9._+-]{0,15}", fullmatch=True)
domains = st.from_regex(r"[a-z0-9-]{1,12}(\.[a-z]{2,6}){1,2}", fullmatch=True)
emails = st.builds(lambda a, b: f"{a}@{b}", local_parts, domains)
# Free text around the mentions: anything without "@" (which would start another one).
filler = st.text(st.characters(blacklist_characters="@", blacklist_categories=("Cs",)), max_size=30)


@st.composite
def texts_with_mentions(draw):
    parts, ids, addresses = [], set(), set()
    for _ in range(draw(st.integers(min_value=0, max_value=6))):
        parts.append(draw(filler))
        if draw(st.booleans()):
            user_id = draw(user_ids)
            ids.add(user_id)
            parts.append(f"@[{draw(names)}]({user_id})")
        else:
            address = draw(emails)
            addresses.add(address.lower())
            parts.append(f"@{address}")
    parts.append(draw(filler))
    return " ".join(parts), ids, addresses


@settings(max_examples=300, deadline=None)
@given(texts_with_mentions())
def test_the_parser_finds_exactly_the_mentions_written(case):
    text, ids, addresses = case
    refs = mentions_parse(text)
    assert refs.user_ids == ids
    assert refs.emails == addresses


@settings(max_examples=200, deadline=None)
@given(texts_with_mentions())
def test_mentions_survive_sanitizing_when_the_text_has_no_markup(case):
    text, ids, addresses = case
    text = text.replace("<", " ").replace(">", " ").replace("&", " ")
    refs = mentions_parse(sanitize_rich_text(f"<p>{text}</p>"))
    assert refs.user_ids == ids
    assert refs.emails == addresses


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_the_parser_never_crashes_on_anything(text):
    refs = mentions_parse(text)
    assert all(isinstance(i, int) for i in refs.user_ids)
    mentions_parse(sanitize_rich_text(text))
    mentions(sanitize_rich_text(text))


def test_what_is_not_a_mention():
    refs = mentions_parse(
        '<a href="mailto:bob@example.com">bob@example.com</a> a@[x] @[no id]() '
        "email:x@@y.com @[Rita](12"
    )
    assert refs.user_ids == frozenset()
    assert refs.emails == frozenset()


# --- notifying ---------------------------------------------------------------------------


def _mention_notes(org):
    return sorted(
        Notification.objects.unscoped()
        .filter(organization=org, url__endswith="#mentions")
        .values_list("recipient__full_name", "verb")
    )


def test_newly_mentioned_members_are_notified_once_and_never_the_author(
    org, owner, rep, admin_user, in_org, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        activity = activity_create(
            org=org,
            actor=owner,
            type="note",
            subject="Pricing",
            description=f"<p>{mention_text(rep)} and {mention_text(owner)}: see this</p>",
        )
    assert _mention_notes(org) == [("Rita Rep", "Olivia Owner mentioned you in “Pricing”")]
    note = Notification.objects.get(recipient=rep)
    assert note.url.endswith(f"{activity.pk}/#mentions")
    assert note.body == "@Rita Rep and @Olivia Owner: see this"

    with django_capture_on_commit_callbacks(execute=True):  # an edit keeping the mention
        activity = activity_update(
            activity=activity,
            actor=owner,
            description=f"<p>{mention_text(rep)} again</p>",
        )
    assert len(_mention_notes(org)) == 1

    with django_capture_on_commit_callbacks(execute=True):  # someone new, by email
        activity_update(
            activity=activity,
            actor=rep,
            notes=f"<p>cc @{admin_user.email.upper()}</p>",
        )
    assert _mention_notes(org) == [
        ("Adam Admin", "Rita Rep mentioned you in “Pricing”"),
        ("Rita Rep", "Olivia Owner mentioned you in “Pricing”"),
    ]


def test_people_outside_the_organization_are_not_notified(
    org, owner, other_owner, in_org, django_capture_on_commit_callbacks
):
    from django.utils import timezone

    from pulse.accounts.models import Membership

    gone = make_member(org, full_name="Gone Member")
    Membership.objects.unscoped().filter(user=gone).update(deleted_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        make_activity(
            org,
            owner,
            type="note",
            subject="Secret",
            description=(
                f"{mention_text(other_owner)} @{other_owner.email} {mention_text(gone)} "
                "@[Nobody](999999)"
            ),
        )
    assert _mention_notes(org) == []
    assert Notification.objects.unscoped().count() == 0


def test_a_rolled_back_change_notifies_nobody(org, owner, rep, in_org):
    import pytest
    from django.db import transaction

    with pytest.raises(RuntimeError), transaction.atomic():
        make_activity(org, owner, type="note", subject="Draft", description=mention_text(rep))
        raise RuntimeError
    assert Notification.objects.unscoped().count() == 0


# --- autocomplete and rendering ----------------------------------------------------------


def test_member_search_lists_matching_members_of_this_organization(
    owner_client, org, owner, rep, other_owner
):
    url = reverse("activities:mention_member_search")
    response = owner_client.get(url, {"q": "ri"})
    assert response.status_code == 200
    assert response.json() == {
        "results": [
            {
                "id": rep.pk,
                "name": "Rita Rep",
                "email": rep.email,
                "mention": f"@[Rita Rep]({rep.pk})",
            }
        ]
    }
    everyone = owner_client.get(url).json()["results"]
    assert [r["name"] for r in everyone] == ["Olivia Owner", "Rita Rep"]
    assert owner_client.get(url, {"q": "Oscar"}).json() == {"results": []}


def test_member_search_needs_a_signed_in_member(client, org):
    response = client.get(reverse("activities:mention_member_search"), {"q": "a"})
    assert response.status_code == 302


def test_mentions_render_as_highlighted_names():
    html = sanitize_rich_text("<p>Ask @[Rita &amp; Co](7) <script>x</script></p>")
    assert mentions(html) == (
        '<p>Ask <span class="pulse-mention" data-user-id="7">@Rita &amp; Co</span> </p>'
    )
    assert mentions("") == ""
