"""The club account's keys, which only the club service reads.

A trader's app never needs them once the club routes: orders are virtual until the service sends them. The
service looks, in order, at the environment (``STRATFORGE_CLUB_KEY_ID`` / ``STRATFORGE_CLUB_SECRET_KEY``: a
systemd unit or a container secret), the OS keyring (service ``StratForge Club``: a trader's machine that runs
the service), then a key file given on the command line. A key file is refused unless only its owner can read
it (mode 0600 or stricter, owned by this user), the same rule ssh applies to private keys: a key a member can
read is a key a member can trade the account with directly.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import keyring
from keyring.errors import KeyringError

KEY_ID_ENV = "STRATFORGE_CLUB_KEY_ID"
SECRET_ENV = "STRATFORGE_CLUB_SECRET_KEY"
KEYRING_SERVICE = "StratForge Club"


@dataclass(frozen=True)
class ClubKeys:
    """The account's key id and secret; repr never shows the secret."""

    key_id: str
    secret: str = field(repr=False)
    source: str = "environment"  # environment | keyring | file


class ClubKeysError(Exception):
    """No usable keys; the message says where to put them."""


def club_keys(keys_file: Path | None = None, environ: Mapping[str, str] | None = None) -> ClubKeys:
    env = os.environ if environ is None else environ
    key_id, secret = env.get(KEY_ID_ENV, ""), env.get(SECRET_ENV, "")
    if key_id and secret:
        return ClubKeys(key_id, secret, "environment")
    if keys_file is not None:
        return _from_file(keys_file)
    try:
        key_id = keyring.get_password(KEYRING_SERVICE, "key-id") or ""
        secret = keyring.get_password(KEYRING_SERVICE, "secret-key") or ""
    except (KeyringError, RuntimeError):
        key_id = secret = ""
    if key_id and secret:
        return ClubKeys(key_id, secret, "keyring")
    raise ClubKeysError(
        f"No keys for the club's Alpaca account: set {KEY_ID_ENV} and {SECRET_ENV}, store them in the keyring "
        f"under '{KEYRING_SERVICE}' (entries key-id and secret-key), or pass --keys-file with a JSON file "
        '{"key_id": ..., "secret_key": ...} that only you can read (chmod 600).'
    )


def _from_file(path: Path) -> ClubKeys:
    try:
        info = path.stat()
    except OSError as exc:
        raise ClubKeysError(f"Cannot read the key file {path}: {exc.strerror or exc}") from exc
    if os.name == "posix":
        if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ClubKeysError(
                f"The key file {path} can be read by others (mode {stat.S_IMODE(info.st_mode):o}); "
                f"run: chmod 600 {path}"
            )
        if info.st_uid != os.getuid():
            raise ClubKeysError(f"The key file {path} belongs to another user.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        key_id, secret = str(data["key_id"]), str(data["secret_key"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ClubKeysError(
            f'The key file {path} is not JSON of the form {{"key_id": ..., "secret_key": ...}}.'
        ) from exc
    if not key_id or not secret:
        raise ClubKeysError(f"The key file {path} has an empty key id or secret.")
    return ClubKeys(key_id, secret, "file")
