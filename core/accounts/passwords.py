"""Password hashing (argon2id via argon2-cffi) and the strength rule.

argon2-cffi is the reference binding of the Password Hashing Competition
winner; its ``verify`` compares in constant time and its parameters are
encoded in the hash, so they can be raised later and old hashes rehashed.
"""

from __future__ import annotations

import functools
import re
import unicodedata

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from core.accounts.errors import InvalidInput, WeakPassword

MIN_LENGTH = 10
MAX_LENGTH = 1024  # argon2 accepts more, but a megabyte "password" is an attack, not a password
# Control characters (NUL, tab, line breaks, DEL, C1) and lone surrogates. libpq passes a password as a C string,
# so a NUL would silently cut a club password short, and a lone surrogate (what Python makes of undecodable bytes
# in an environment variable) cannot be encoded as UTF-8 at all. Format characters (the zero-width joiner of an
# emoji sequence) and private-use or not-yet-assigned characters stay allowed: they are text.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cs"})

_hasher = PasswordHasher()  # argon2id, library defaults (RFC 9106 low-memory profile)
# Verified against when the user does not exist, so both failure paths cost one argon2 verify. A stored hash, not
# one computed at import: hashing costs 0.3 to 0.7 s, which every start of the app waited for. When a newer
# argon2-cffi changes its default cost, this hash would no longer cost what a real one does, so it is replaced by
# a fresh one (once, on first use).
_STORED_DUMMY_HASH = "$argon2id$v=19$m=65536,t=3,p=4$Gudymd6Wf1Jo/tbNTrZmmA$ryqyCh9AHeE37jGOyuG/6n1aNKFcCb47tLFyEbar6O8"


@functools.cache
def _dummy_hash() -> str:
    if _hasher.check_needs_rehash(_STORED_DUMMY_HASH):
        return _hasher.hash("stratforge-dummy-password-for-timing")
    return _STORED_DUMMY_HASH


def check_input(password: str) -> None:
    """Refuse, before any hashing, what can never be a StratForge password: InvalidInput.

    Used at log-in and for the current password of a password change. Sign-up refuses the same inputs, so no
    account can have such a password; saying so plainly reveals nothing about any account (it depends only on
    what was typed) and tells the trader who pasted the wrong thing why. An over-long password is refused by
    its length alone: a 10 MB one would otherwise cost argon2 a 10 MB hash.
    """
    if len(password) > MAX_LENGTH:
        raise InvalidInput(f"That password is longer than {MAX_LENGTH:,} characters; no StratForge password is.")
    _check_characters(password)


def _check_characters(password: str) -> None:
    if any(unicodedata.category(c) in _REFUSED_CATEGORIES for c in password):
        raise InvalidInput(
            "The password contains a control character (such as a NUL byte, a tab or a line break) or text that "
            "is not valid Unicode; type it again without it."
        )


def check_strength(password: str, *, username: str = "", email: str = "") -> None:
    """Raise WeakPassword with the first rule the password breaks (InvalidInput for characters no password may
    contain)."""
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"The password must be at most {MAX_LENGTH} characters long.")
    _check_characters(password)
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"The password must be at least {MIN_LENGTH} characters long.")
    if not re.search(r"[A-Za-z]", password) or not re.search(r"\d", password):
        raise WeakPassword("The password must contain both letters and digits.")
    lowered = password.lower()
    local_part = email.split("@", 1)[0].lower()
    for name in (username.lower(), local_part):
        if len(name) >= 3 and name in lowered:
            raise WeakPassword("The password must not contain your username or email.")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant-time check; with no hash (unknown user) it still spends one verify and returns False."""
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
