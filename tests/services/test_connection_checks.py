"""The settings' connection checks without the dialog: a bad database URL or key gets a sentence a trader can
act on, and typed keys are compared with the stored ones so only a change is written."""

from __future__ import annotations

import pytest

from core.accounts.secrets import SecretStore
from core.services.connection_checks import alpaca_change, check_database_url, gemini_change, read_keys

ALPACA_ID, ALPACA_SECRET = "PK" + "A" * 18, "s" * 40
GEMINI = "AIza" + "x" * 35


def test_an_empty_url_means_the_embedded_database_and_postgresql_urls_pass_stripped():
    assert check_database_url("  ") is None
    assert check_database_url(" postgres://u@h/d ") == "postgres://u@h/d"


@pytest.mark.parametrize(
    ("text", "message"),
    [("not a url", "That is not a database URL. It should look like postgresql://"),
     ("mysql://x", "StratForge needs a PostgreSQL database; “mysql” is not supported.")],
)  # fmt: skip
def test_a_bad_url_gets_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        check_database_url(text)
    assert str(caught.value).startswith(message)


def test_half_an_alpaca_pair_is_refused_and_an_unchanged_pair_is_not_rewritten():
    with pytest.raises(ValueError, match="Enter both the Alpaca key ID and the secret key"):
        alpaca_change(ALPACA_ID, "", None)
    assert alpaca_change(ALPACA_ID, ALPACA_SECRET, None).store == (ALPACA_ID, ALPACA_SECRET)
    assert alpaca_change(f" {ALPACA_ID} ", ALPACA_SECRET, (ALPACA_ID, ALPACA_SECRET)).store is None
    assert alpaca_change("", "", (ALPACA_ID, ALPACA_SECRET)).clear
    assert not alpaca_change("", "", None).clear


def test_a_malformed_gemini_key_is_refused_and_emptying_the_field_clears_it():
    with pytest.raises(ValueError):
        gemini_change("nope", None)
    assert gemini_change(GEMINI, None).store == (GEMINI,)
    assert gemini_change("", GEMINI).clear


def test_keys_are_read_from_the_keyring(keyring_backend):
    store = SecretStore()
    store.set_gemini_key(GEMINI)
    keys = read_keys(store)
    assert keys.keyring_available and keys.gemini is not None and keys.gemini.key == GEMINI
    assert keys.alpaca is None and keys.problem is None
