"""The six-digit code Angel One's log-in asks for, from the TOTP seed Angel showed when the trader enabled it.

RFC 6238 (30 s steps, SHA-1, six digits: what Angel's "Enable TOTP" page sets up) with the ``cryptography``
package's implementation, already a dependency, rather than adding pyotp.
"""

from __future__ import annotations

import base64
import binascii
import time

from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor import InvalidToken
from cryptography.hazmat.primitives.twofactor.totp import TOTP

DIGITS = 6
STEP_S = 30


class TotpSeedError(ValueError):
    """The stored seed is not a base32 TOTP secret; str() says so without quoting it."""


def totp_code(seed: str, at: float | None = None) -> str:
    """The code for ``at`` (epoch seconds; now by default)."""
    key = _key(seed)
    totp = TOTP(key, DIGITS, SHA1(), STEP_S, enforce_key_length=False)
    return totp.generate(int(time.time() if at is None else at)).decode()


def verify(seed: str, code: str, at: float) -> bool:
    totp = TOTP(_key(seed), DIGITS, SHA1(), STEP_S, enforce_key_length=False)
    try:
        totp.verify(code.encode(), int(at))
    except InvalidToken:
        return False
    return True


def _key(seed: str) -> bytes:
    cleaned = "".join(seed.split()).upper().rstrip("=")
    if not cleaned:
        raise TotpSeedError("The Angel One TOTP seed is empty.")
    try:
        return base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))
    except (binascii.Error, ValueError):
        raise TotpSeedError("The Angel One TOTP seed is not valid (it is the base32 text Angel showed).") from None
