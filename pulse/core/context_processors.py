"""What the base layout needs on every page: organization, memberships, unread count."""

from django.conf import settings


def shell(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"site_url": settings.SITE_URL}
    from pulse.accounts.selectors import memberships_of

    org = getattr(request, "organization", None)

    def unread():
        if org is None:
            return 0
        from pulse.extras.models import Notification

        return Notification.objects.filter(recipient=user, read_at__isnull=True).count()

    membership = getattr(request, "membership", None)
    return {
        "current_org": org,
        "current_membership": membership,
        "is_org_admin": bool(membership and membership.is_admin),
        # Read once by the tenancy middleware (active_membership_for_request) already.
        "user_memberships": lambda: (
            user.__dict__.get("_pulse_membership_list") or list(memberships_of(user))
        ),
        "unread_notifications": unread,
        "site_url": settings.SITE_URL,
    }
