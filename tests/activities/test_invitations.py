"""Meeting attendees (users, contacts, bare emails) and iCalendar invitations sent by
email: REQUEST with ORGANIZER/ATTENDEE lines, a new SEQUENCE on updates, CANCEL."""

from __future__ import annotations

import datetime

import icalendar
import pytest
from django.core import mail
from django.urls import reverse

from pulse.accounts.models import Role
from pulse.activities.models import ActivityAttendee
from pulse.activities.services import (
    activity_cancel,
    activity_reschedule,
    activity_update,
    attendee_add,
    attendee_remove,
    attendee_respond,
    meeting_invite,
)
from pulse.audit.models import AuditEntry
from pulse.core.errors import ApplicationError
from pulse.core.tenancy import tenant_context
from tests.accounts.factories import make_member
from tests.activities.factories import make_activity
from tests.conftest import login
from tests.contacts.factories import make_contact

pytestmark = pytest.mark.django_db

START = datetime.datetime(2026, 11, 24, 10, 0, tzinfo=datetime.UTC)


@pytest.fixture
def meeting(org, owner, rep):
    with tenant_context(org, actor=owner):
        return make_activity(
            org,
            rep,
            type="meeting",
            subject="Kick-off",
            scheduled_at=START,
            duration_minutes=45,
            location="Sofia office",
        )


@pytest.fixture
def ana(org, owner):
    with tenant_context(org, actor=owner):
        return make_contact(org, owner, first_name="Ana", last_name="Petrova", email="ana@rila.bg")


def invitation(message) -> icalendar.Calendar:
    ((name, content, mimetype),) = message.attachments
    assert name == "invite.ics"
    return icalendar.Calendar.from_ical(content)


def vevent(cal):
    (event,) = cal.walk("VEVENT")
    return event


def test_attendees_are_users_contacts_or_emails(org, owner, rep, meeting, ana):
    with tenant_context(org, actor=rep):
        by_user = attendee_add(activity=meeting, actor=rep, user=owner)
        by_contact = attendee_add(activity=meeting, actor=rep, contact=ana)
        by_email = attendee_add(activity=meeting, actor=rep, email="guest@example.com")
    assert (by_user.user, by_user.email, by_user.name) == (owner, owner.email, "Olivia Owner")
    assert (by_contact.contact, by_contact.email, by_contact.name) == (
        ana,
        "ana@rila.bg",
        "Ana Petrova",
    )
    assert (by_email.user, by_email.contact, by_email.email) == (None, None, "guest@example.com")
    assert AuditEntry.objects.unscoped().filter(object_id=str(by_email.pk)).count() == 1


def test_an_email_of_a_contact_or_member_is_linked(org, owner, rep, meeting, ana):
    with tenant_context(org, actor=rep):
        contact = attendee_add(activity=meeting, actor=rep, email="ANA@rila.bg")
        member = attendee_add(activity=meeting, actor=rep, email=owner.email.upper())
    assert (contact.contact, contact.name) == (ana, "Ana Petrova")
    assert (member.user, member.contact) == (owner, None)


def test_the_same_person_is_not_added_twice(org, owner, rep, meeting, ana):
    with tenant_context(org, actor=rep):
        attendee_add(activity=meeting, actor=rep, contact=ana)
        with pytest.raises(ApplicationError) as exc:
            attendee_add(activity=meeting, actor=rep, email="ana@rila.bg")
        assert exc.value.errors == {"email": ["Ana Petrova is already invited."]}
        attendee_add(activity=meeting, actor=rep, email="x@example.com")
        with pytest.raises(ApplicationError):
            attendee_add(activity=meeting, actor=rep, email="X@example.com")
        assert ActivityAttendee.objects.filter(activity=meeting).count() == 2


def test_only_a_meeting_has_attendees(org, owner, rep):
    with tenant_context(org, actor=owner):
        call = make_activity(org, rep, type="call")
        with pytest.raises(ApplicationError) as exc:
            attendee_add(activity=call, actor=rep, email="a@example.com")
        assert exc.value.message == "Only a meeting has attendees."
        assert ActivityAttendee.objects.count() == 0


def test_a_user_of_another_organization_cannot_be_added(org, rep, meeting, other_owner):
    with tenant_context(org, actor=rep):
        with pytest.raises(ApplicationError) as exc:
            attendee_add(activity=meeting, actor=rep, user=other_owner)
        assert list(exc.value.errors) == ["user"]
        assert ActivityAttendee.objects.count() == 0


def test_an_invitation_is_an_ics_request(
    org, owner, rep, meeting, ana, django_capture_on_commit_callbacks
):
    with tenant_context(org, actor=rep):
        attendee_add(activity=meeting, actor=rep, contact=ana)
        attendee_add(activity=meeting, actor=rep, email="guest@example.com")
        with django_capture_on_commit_callbacks(execute=True):
            sent = meeting_invite(activity=meeting, actor=rep)
    assert len(sent) == 2 and all(a.invited_at for a in sent)
    assert sorted(m.to[0] for m in mail.outbox) == ["ana@rila.bg", "guest@example.com"]
    message = mail.outbox[0]
    assert message.subject == "Invitation: Kick-off (2026-11-24 10:00 UTC)"
    assert message.reply_to == [rep.email]
    assert "Where: Sofia office" in message.body
    assert message.attachments[0][2] == "text/calendar; method=REQUEST"
    cal = invitation(message)
    assert cal["method"] == "REQUEST"
    event = vevent(cal)
    assert str(event["uid"]) == f"{meeting.pk}@pulsecrm"
    assert event.decoded("dtstart") == START
    assert event.decoded("dtend") == START + datetime.timedelta(minutes=45)
    assert str(event["organizer"]) == f"mailto:{rep.email}"
    attendees = sorted(str(a) for a in event["attendee"])
    assert attendees == ["mailto:ana@rila.bg", "mailto:guest@example.com"]
    assert event["attendee"][0].params["PARTSTAT"] == "NEEDS-ACTION"
    assert int(event["sequence"]) == meeting.version


def test_nothing_is_sent_when_the_transaction_rolls_back(org, rep, meeting):
    with tenant_context(org, actor=rep):
        attendee_add(activity=meeting, actor=rep, email="guest@example.com")
        from django.db import transaction

        try:
            with transaction.atomic():
                meeting_invite(activity=meeting, actor=rep)
                raise RuntimeError("boom")
        except RuntimeError:
            pass
        assert ActivityAttendee.objects.get().invited_at is None
    assert mail.outbox == []


def test_a_move_sends_the_update_with_a_new_sequence(
    org, rep, meeting, django_capture_on_commit_callbacks
):
    with tenant_context(org, actor=rep):
        attendee_add(activity=meeting, actor=rep, email="guest@example.com")
        attendee_add(activity=meeting, actor=rep, email="later@example.com")
        first = ActivityAttendee.objects.get(email="guest@example.com")
        with django_capture_on_commit_callbacks(execute=True):
            meeting_invite(activity=meeting, actor=rep, attendees=[first])
        first_sequence = int(vevent(invitation(mail.outbox[0]))["sequence"])
        with django_capture_on_commit_callbacks(execute=True):
            moved = activity_reschedule(
                activity=meeting,
                actor=rep,
                start=START + datetime.timedelta(days=1),
                end=START + datetime.timedelta(days=1, hours=1),
            )
    # Only the one already invited hears about the change.
    assert [m.to for m in mail.outbox] == [["guest@example.com"], ["guest@example.com"]]
    update = mail.outbox[1]
    assert update.subject.startswith("Updated invitation: Kick-off (2026-11-25 10:00")
    event = vevent(invitation(update))
    assert int(event["sequence"]) == moved.version > first_sequence
    assert event.decoded("dtstart") == START + datetime.timedelta(days=1)


def test_a_cancelled_meeting_sends_cancel(org, rep, meeting, django_capture_on_commit_callbacks):
    with tenant_context(org, actor=rep):
        attendee_add(activity=meeting, actor=rep, email="guest@example.com")
        with django_capture_on_commit_callbacks(execute=True):
            meeting_invite(activity=meeting, actor=rep)
        with django_capture_on_commit_callbacks(execute=True):
            cancelled = activity_cancel(activity=meeting, actor=rep)
        with pytest.raises(ApplicationError):
            meeting_invite(activity=cancelled, actor=rep)
    # The cancellation itself told the invited guest, once.
    assert len(mail.outbox) == 2
    cancel = mail.outbox[-1]
    assert cancel.subject.startswith("Cancelled: Kick-off")
    cal = invitation(cancel)
    assert (cal["method"], vevent(cal)["status"]) == ("CANCEL", "CANCELLED")


def test_removing_an_invited_attendee_sends_them_a_cancel(
    org, rep, meeting, django_capture_on_commit_callbacks
):
    with tenant_context(org, actor=rep):
        guest = attendee_add(activity=meeting, actor=rep, email="guest@example.com")
        never = attendee_add(activity=meeting, actor=rep, email="never@example.com")
        with django_capture_on_commit_callbacks(execute=True):
            meeting_invite(activity=meeting, actor=rep, attendees=[guest])
        guest.refresh_from_db()
        with django_capture_on_commit_callbacks(execute=True):
            attendee_remove(attendee=guest, actor=rep)
            attendee_remove(attendee=never, actor=rep)
        assert ActivityAttendee.objects.count() == 0
    assert [m.to for m in mail.outbox] == [["guest@example.com"], ["guest@example.com"]]
    cal = invitation(mail.outbox[1])
    assert cal["method"] == "CANCEL"
    assert [str(a) for a in [vevent(cal)["attendee"]]] == ["mailto:guest@example.com"]


def test_an_invitation_needs_someone_to_send_to(org, rep, meeting):
    with tenant_context(org, actor=rep), pytest.raises(ApplicationError) as exc:
        meeting_invite(activity=meeting, actor=rep)
    assert exc.value.message == "Add an attendee with an email address first."


def test_responses_are_recorded(org, rep, meeting):
    with tenant_context(org, actor=rep):
        guest = attendee_add(activity=meeting, actor=rep, email="guest@example.com")
        attendee_respond(attendee=guest, response="accepted", actor=rep)
        with pytest.raises(ApplicationError):
            attendee_respond(attendee=guest, response="maybe", actor=rep)
        guest.refresh_from_db()
    assert guest.response == "accepted"


# --- the attendees panel ------------------------------------------------------------------


def test_the_panel_adds_responds_removes_and_invites(org, rep, meeting, ana):
    client = login(rep, org)
    panel = reverse("activities:attendee_panel", args=[meeting.pk])
    html = client.get(panel).content.decode()
    assert "Nobody is invited yet." in html
    response = client.post(
        reverse("activities:attendee_add", args=[meeting.pk]),
        {"contact": str(ana.pk)},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert "Ana Petrova" in response.content.decode()
    with tenant_context(org):
        attendee = ActivityAttendee.objects.get()
    response = client.post(
        reverse("activities:attendee_respond", args=[attendee.pk]),
        {"response": "tentative"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    with tenant_context(org):
        attendee.refresh_from_db()
    assert attendee.response == "tentative"
    response = client.post(
        reverse("activities:meeting_invite", args=[meeting.pk]), HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert "Invitation sent to 1 attendee." in response.content.decode()
    response = client.post(
        reverse("activities:attendee_remove", args=[attendee.pk]), HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert "Nobody is invited yet." in response.content.decode()


def test_the_panel_shows_errors_and_saves_nothing(org, rep, meeting):
    client = login(rep, org)
    response = client.post(
        reverse("activities:attendee_add", args=[meeting.pk]),
        {"email": "not-an-email"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 400
    assert "Enter a valid email address." in response.content.decode()
    response = client.post(
        reverse("activities:attendee_add", args=[meeting.pk]), {}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 400
    response = client.post(reverse("activities:meeting_invite", args=[meeting.pk]))
    assert response.status_code == 302  # without htmx: back to the page, with the message
    with tenant_context(org):
        assert ActivityAttendee.objects.count() == 0


def test_a_read_only_member_cannot_change_attendees(org, rep, meeting):
    with tenant_context(org, actor=rep):
        guest = attendee_add(activity=meeting, actor=rep, email="guest@example.com")
    reader = make_member(org, Role.READ_ONLY)
    client = login(reader, org)
    html = client.get(reverse("activities:attendee_panel", args=[meeting.pk])).content.decode()
    assert 'data-testid="attendee-add-form"' not in html
    add = client.post(reverse("activities:attendee_add", args=[meeting.pk]), {"email": "a@b.co"})
    remove = client.post(reverse("activities:attendee_remove", args=[guest.pk]))
    invite = client.post(reverse("activities:meeting_invite", args=[meeting.pk]))
    assert (add.status_code, remove.status_code, invite.status_code) == (403, 403, 403)
    with tenant_context(org):
        assert list(ActivityAttendee.objects.values_list("email", flat=True)) == [
            "guest@example.com"
        ]
    assert mail.outbox == []


def test_an_edit_of_what_the_invitation_says_sends_the_update_and_notes_do_not(
    org, rep, meeting, django_capture_on_commit_callbacks
):
    with tenant_context(org, actor=rep):
        attendee_add(activity=meeting, actor=rep, email="guest@example.com")
        with django_capture_on_commit_callbacks(execute=True):
            meeting_invite(activity=meeting, actor=rep)
        with django_capture_on_commit_callbacks(execute=True):
            meeting = activity_update(activity=meeting, actor=rep, notes="<p>Bring the demo</p>")
        assert len(mail.outbox) == 1
        with django_capture_on_commit_callbacks(execute=True):
            moved = activity_update(activity=meeting, actor=rep, location="Room 7")
    assert len(mail.outbox) == 2
    event = vevent(invitation(mail.outbox[1]))
    assert (str(event["location"]), int(event["sequence"])) == ("Room 7", moved.version)
