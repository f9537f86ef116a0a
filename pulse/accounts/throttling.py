"""Failed-login throttling, per email address and per client IP, kept in the cache.

After ``settings.LOGIN_THROTTLE_ATTEMPTS`` failures within
``settings.LOGIN_THROTTLE_WINDOW`` seconds, further attempts for that email (or from
that IP) are refused -- even with the right password -- until the window that began
with the first failure has passed. The web login and the JWT endpoint share it, so an
attacker cannot switch doors. The cache is shared by all web processes (Redis in
production), so the count is too.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.cache import cache

_PREFIX = "pulse:login-failures"


def client_ip(request) -> str:
    """The client's address: REMOTE_ADDR, or the proxy-appended X-Forwarded-For entry.

    X-Forwarded-For is only trusted as far as ``REST_FRAMEWORK["NUM_PROXIES"]`` says
    proxies sit in front of us; otherwise anyone could pick a fresh IP per attempt.
    """
    num_proxies = settings.REST_FRAMEWORK.get("NUM_PROXIES") or 0
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if num_proxies and forwarded:
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            return hops[-min(num_proxies, len(hops))]
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def _keys(email: str, ip: str) -> list[str]:
    keys = [f"{_PREFIX}:ip:{ip}"]
    email = (email or "").strip().lower()
    if email:
        digest = hashlib.sha256(email.encode()).hexdigest()[:32]
        keys.append(f"{_PREFIX}:email:{digest}")
    return keys


def login_blocked(*, email: str, ip: str) -> bool:
    """Have this email or this IP used up their failed attempts for the current window?"""
    limit = settings.LOGIN_THROTTLE_ATTEMPTS
    counts = cache.get_many(_keys(email, ip))
    return any(count >= limit for count in counts.values())


def login_failed(*, email: str, ip: str) -> None:
    """Count one failed attempt against the email and the IP."""
    for key in _keys(email, ip):
        # add() starts the window with the first failure; incr() keeps its expiry.
        cache.add(key, 0, timeout=settings.LOGIN_THROTTLE_WINDOW)
        try:
            cache.incr(key)
        except ValueError:  # expired between add() and incr()
            cache.set(key, 1, timeout=settings.LOGIN_THROTTLE_WINDOW)


def login_succeeded(*, email: str) -> None:
    """Forget the email's failures; the IP's count stays (one good account must not
    reset an attacker's budget for guessing others)."""
    email_keys = _keys(email, "-")[1:]
    if email_keys:
        cache.delete_many(email_keys)
