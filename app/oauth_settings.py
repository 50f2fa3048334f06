"""The sign-in providers' client ids and redirect ports a trader saved in the app's settings file.

The environment wins over these (core.accounts.oauth.config); the file never holds a secret.
"""

from __future__ import annotations

from PySide6.QtCore import QSettings

from core.accounts.oauth.config import CLIENT_ID_SETTING, REDIRECT_PORT_SETTING


def stored_oauth_settings(settings: QSettings | None = None) -> dict[str, object]:
    """Only the keys that are set, so an absent key falls back to the environment's absence."""
    source = settings if settings is not None else QSettings()
    keys = (*CLIENT_ID_SETTING.values(), *REDIRECT_PORT_SETTING.values())
    return {key: source.value(key) for key in keys if source.contains(key)}
