"""Signing in with Google or Discord (RFC 8252: system browser, loopback redirect, PKCE; Google's ID token checked
against its published keys). Linking the identity to a StratForge user is core.accounts.identities.

The flow itself (core.accounts.oauth.flow) loads Authlib, requests and joserfc, about 0.2 s of imports: it is not
imported here, so the login dialog (imported at every start) pays for it only when a trader clicks a button."""

from core.accounts.oauth.config import OAuthClient, OAuthConfig
from core.accounts.oauth.errors import (
    IdentityTaken,
    LastWayToLogIn,
    SignInCancelled,
    SignInError,
    SignInNotConfigured,
    SignInTimedOut,
)
from core.accounts.oauth.identity import VerifiedIdentity
from core.accounts.oauth.providers import DISCORD, GOOGLE, LABELS, PROVIDERS, ProviderEndpoints

__all__ = [
    "DISCORD",
    "GOOGLE",
    "LABELS",
    "PROVIDERS",
    "IdentityTaken",
    "LastWayToLogIn",
    "OAuthClient",
    "OAuthConfig",
    "ProviderEndpoints",
    "SignInCancelled",
    "SignInError",
    "SignInNotConfigured",
    "SignInTimedOut",
    "VerifiedIdentity",
]
