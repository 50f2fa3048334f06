"""Signing in with Google or Discord (RFC 8252: system browser, loopback redirect, PKCE; Google's ID token checked
against its published keys). Linking the identity to a StratForge user is core.accounts.identities."""

from core.accounts.oauth.config import OAuthClient, OAuthConfig
from core.accounts.oauth.errors import (
    IdentityTaken,
    LastWayToLogIn,
    SignInCancelled,
    SignInError,
    SignInNotConfigured,
    SignInTimedOut,
)
from core.accounts.oauth.flow import OAuthSignIn, VerifiedIdentity
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
    "OAuthSignIn",
    "ProviderEndpoints",
    "SignInCancelled",
    "SignInError",
    "SignInNotConfigured",
    "SignInTimedOut",
    "VerifiedIdentity",
]
