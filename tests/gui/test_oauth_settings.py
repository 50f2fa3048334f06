"""The sign-in providers' saved client ids reach the identity service; keys never set stay absent."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

from app.oauth_settings import stored_oauth_settings
from core.accounts.oauth.config import OAuthConfig


def test_saved_client_ids_configure_the_providers_and_unset_keys_are_left_out(tmp_path: Path) -> None:
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    assert stored_oauth_settings(settings) == {}
    settings.setValue("oauth/google_client_id", "1234-abc.apps.googleusercontent.com")
    stored = stored_oauth_settings(settings)
    assert stored == {"oauth/google_client_id": "1234-abc.apps.googleusercontent.com"}
    config = OAuthConfig.from_env(environ={}, stored=stored)
    assert config.client("google") is not None and config.client("discord") is None
