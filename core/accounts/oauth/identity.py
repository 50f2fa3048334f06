"""Who a provider says signed in: the value every part of sign-in passes around (light: no HTTP or JOSE imports)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class VerifiedIdentity:
    """Who the provider says signed in, after every check. ``subject`` is the provider's stable id (Google's
    ``sub``, Discord's user id): the only field an identity is linked by; the others are for display."""

    provider: str
    subject: str
    email: str | None
    email_verified: bool
    name: str | None
    avatar_url: str | None
