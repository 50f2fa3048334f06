"""The browser sign-in against the local OAuth/OIDC stand-in: what a full Google and Discord sign-in proves, and
every way an attacker or an unlucky trader can break it, each refused with a trader-readable line."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import requests

from core.accounts.oauth import (
    DISCORD,
    GOOGLE,
    OAuthClient,
    SignInCancelled,
    SignInError,
    SignInTimedOut,
    VerifiedIdentity,
)
from core.accounts.oauth.flow import OAuthSignIn
from core.accounts.oauth.loopback import LoopbackReceiver
from core.accounts.oauth.providers import discord_endpoints, google_endpoints
from tests.oauth.browser import FakeBrowser, query_of, with_query
from tests.oauth.standin import (
    DISCORD_CLIENT_ID,
    GOOGLE_CLIENT_ID,
    GOOGLE_CLIENT_SECRET,
    StandIn,
    s256,
)

GOOGLE_CLIENT = OAuthClient(GOOGLE, GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def google(standin: StandIn, browser: FakeBrowser, *, client: OAuthClient = GOOGLE_CLIENT, wait_s: float = 5):
    return OAuthSignIn(client, lambda http: google_endpoints(http, standin.discovery_url), browser, wait_s=wait_s)


def discord(standin: StandIn, browser: FakeBrowser, port: int, *, wait_s: float = 5) -> OAuthSignIn:
    standin.discord_redirect = f"http://127.0.0.1:{port}/callback"  # Discord matches the registered URI exactly
    client = OAuthClient(DISCORD, DISCORD_CLIENT_ID, redirect_port=port)
    return OAuthSignIn(client, lambda http: discord_endpoints(standin.discord_base_url), browser, wait_s=wait_s)


# --- the happy paths ------------------------------------------------------------------------------------------


def test_a_google_sign_in_proves_the_google_account_with_a_verified_id_token(standin: StandIn) -> None:
    browser = FakeBrowser()
    identity = google(standin, browser).run()
    assert identity == VerifiedIdentity(
        provider=GOOGLE,
        subject=standin.person.google_sub,
        email="ann.trader@example.com",
        email_verified=True,
        name="Ann Trader",
        avatar_url="https://lh3.googleusercontent.com/a/standin",
    )
    asked = query_of(browser.opened[0])
    assert asked["code_challenge_method"] == "S256" and len(asked["code_challenge"]) == 43
    assert asked["nonce"] and asked["state"] and asked["redirect_uri"].startswith("http://127.0.0.1:")
    assert asked["scope"] == "openid email profile" and asked["prompt"] == "select_account"
    assert "code_verifier" not in asked  # only its hash travels through the browser
    assert browser.loopback_status == [200]


def test_a_discord_sign_in_reads_the_user_from_users_me(standin: StandIn) -> None:
    browser = FakeBrowser()
    identity = discord(standin, browser, free_port()).run()
    assert identity.provider == DISCORD and identity.subject == standin.person.discord_id
    assert identity.email == "ann.trader@example.com" and identity.email_verified
    assert identity.avatar_url == (
        f"https://cdn.discordapp.com/avatars/{standin.person.discord_id}/a_1269e74af4df7417b13759eae50c83dc.png"
    )
    assert "nonce" not in query_of(browser.opened[0])  # OAuth2 only: no ID token to bind one to


def test_the_loopback_listener_takes_one_redirect_and_then_closes(standin: StandIn) -> None:
    browser = FakeBrowser()
    google(standin, browser).run()
    redirect = browser.redirects[0]
    with pytest.raises(requests.ConnectionError):
        requests.get(redirect, timeout=2)  # nobody listens there any more


# --- refused, with nothing proved ---------------------------------------------------------------------------


def test_a_wrong_state_is_refused(standin: StandIn) -> None:
    browser = FakeBrowser(redirect=lambda url: with_query(url, state="forged-by-an-attacker"))
    with pytest.raises(SignInError, match="state mismatch"):
        google(standin, browser).run()


def test_a_wrong_state_never_reaches_the_token_endpoint(standin: StandIn) -> None:
    before = standin.token_requests
    browser = FakeBrowser(redirect=lambda url: with_query(url, state="x" * 43))
    with pytest.raises(SignInError):
        google(standin, browser).run()
    assert standin.token_requests == before


def test_a_wrong_nonce_is_refused(standin: StandIn) -> None:
    standin.knobs.nonce = "a-nonce-from-another-sign-in"
    with pytest.raises(SignInError, match="nonce mismatch"):
        google(standin, FakeBrowser()).run()


def test_a_code_from_another_sign_in_is_refused_by_the_provider(standin: StandIn) -> None:
    """Code injection: a code an attacker obtained (for their own verifier and redirect) slipped into this sign-in's
    redirect with this sign-in's state. PKCE makes the provider refuse it."""
    stolen = FakeBrowser()
    google(standin, stolen).run()  # the code of that sign-in is used once already
    old_code = query_of(stolen.redirects[0])["code"]
    browser = FakeBrowser(redirect=lambda url: with_query(url, code=old_code))
    with pytest.raises(SignInError, match=r"refused to complete the sign-in \(invalid_grant\)"):
        google(standin, browser).run()


def test_a_code_issued_for_another_challenge_fails_with_this_verifier(standin: StandIn) -> None:
    attacker = s256("attacker-verifier-" + "a" * 40)
    browser = FakeBrowser(authorize=lambda url: with_query(url, code_challenge=attacker))
    with pytest.raises(SignInError, match="invalid_grant"):
        google(standin, browser).run()


def test_a_token_signed_by_another_key_is_refused(standin: StandIn) -> None:
    standin.knobs.sign_with_other_key = True  # same kid, another private key: a forgery
    with pytest.raises(SignInError, match="not signed by Google"):
        google(standin, FakeBrowser()).run()


def test_a_token_issued_to_another_app_is_refused(standin: StandIn) -> None:
    standin.knobs.audience = "another-app.apps.googleusercontent.com"
    with pytest.raises(SignInError, match="issued to another app"):
        google(standin, FakeBrowser()).run()


def test_an_expired_token_is_refused(standin: StandIn) -> None:
    standin.knobs.expired = True
    with pytest.raises(SignInError, match="expired"):
        google(standin, FakeBrowser()).run()


def test_consent_refused_at_the_provider_is_a_cancel(standin: StandIn) -> None:
    standin.knobs.deny = True
    with pytest.raises(SignInCancelled, match="cancelled at Google"):
        google(standin, FakeBrowser()).run()


def test_a_wrong_client_secret_is_refused_by_the_token_endpoint(standin: StandIn) -> None:
    client = OAuthClient(GOOGLE, GOOGLE_CLIENT_ID, "not-the-secret")
    with pytest.raises(SignInError, match="invalid_client"):
        google(standin, FakeBrowser(), client=client).run()


def test_an_unregistered_discord_redirect_never_comes_back_and_times_out(standin: StandIn) -> None:
    browser = FakeBrowser()
    flow = discord(standin, browser, free_port(), wait_s=0.5)
    standin.discord_redirect = "http://127.0.0.1:1/callback"  # registered for another port
    with pytest.raises(SignInTimedOut):
        flow.run()
    browser.join()
    assert browser.loopback_status == [-400]  # Discord showed its error page instead of redirecting


def test_a_closed_browser_tab_times_out(standin: StandIn) -> None:
    started = time.monotonic()
    with pytest.raises(SignInTimedOut, match="No answer came back"):
        google(standin, FakeBrowser(silent=True), wait_s=0.4).run()
    assert time.monotonic() - started < 3


def test_cancel_from_the_dialog_ends_the_wait(standin: StandIn) -> None:
    cancelled = threading.Event()
    browser = FakeBrowser(silent=True)
    flow = google(standin, browser, wait_s=30)
    threading.Timer(0.2, cancelled.set).start()
    started = time.monotonic()
    with pytest.raises(SignInCancelled):
        flow.run(cancelled)
    assert time.monotonic() - started < 3


def test_an_unreachable_provider_is_one_line(standin: StandIn) -> None:
    port = free_port()  # nothing listens
    flow = OAuthSignIn(
        GOOGLE_CLIENT,
        lambda http: google_endpoints(http, f"http://127.0.0.1:{port}/.well-known/openid-configuration", timeout=2),
        FakeBrowser(),
    )
    with pytest.raises(SignInError, match="Could not reach Google"):
        flow.run()


def test_a_provider_address_that_is_not_https_is_refused() -> None:
    with pytest.raises(SignInError, match="not an https address"):
        discord_endpoints("http://discord.example.com")


# --- the loopback listener ----------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::", "example.com"])
def test_the_loopback_listener_refuses_to_bind_anything_but_loopback(host: str) -> None:
    with pytest.raises(ValueError, match=r"127\.0\.0\.x only"):
        LoopbackReceiver(host=host)


def test_the_loopback_listener_binds_127_0_0_1_and_ignores_other_paths() -> None:
    with LoopbackReceiver() as receiver:
        host, port = receiver.address
        assert host == "127.0.0.1" and port > 0
        answers: list[dict[str, str]] = []
        waiter = threading.Thread(target=lambda: answers.append(receiver.wait(5)))
        waiter.start()
        assert requests.get(f"http://127.0.0.1:{port}/favicon.ico", timeout=2).status_code == 404
        assert requests.get(f"{receiver.redirect_uri}?code=c&state=s", timeout=2).status_code == 200
        waiter.join(5)
    assert answers == [{"code": "c", "state": "s"}]


# --- the stand-in is as strict as the real token endpoint -----------------------------------------------------

VERIFIER = "a-client-s-own-verifier-" + "v" * 30
REDIRECT = "http://127.0.0.1:1/callback"  # never visited: the test reads the code off the Location header


def authorize_directly(standin: StandIn) -> str:
    answer = requests.get(
        f"{standin.issuer}/authorize",
        params={
            "client_id": GOOGLE_CLIENT_ID,
            "redirect_uri": REDIRECT,
            "response_type": "code",
            "scope": "openid email",
            "state": "s",
            "code_challenge": s256(VERIFIER),
            "code_challenge_method": "S256",
        },
        allow_redirects=False,
        timeout=5,
    )
    assert answer.status_code == 302
    return query_of(answer.headers["Location"])["code"]


def redeem(standin: StandIn, code: str, **changes: str) -> requests.Response:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": GOOGLE_CLIENT_ID,
        "client_secret": GOOGLE_CLIENT_SECRET,
        "code_verifier": VERIFIER,
        **changes,
    }
    return requests.post(f"{standin.issuer}/token", data=form, timeout=5)


def test_the_stand_in_redeems_a_code_once_only(standin: StandIn) -> None:
    code = authorize_directly(standin)
    assert redeem(standin, code).status_code == 200
    replay = redeem(standin, code)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    "changes",
    [{"code_verifier": "w" * 43}, {"redirect_uri": "http://127.0.0.1:2/callback"}, {"code_verifier": ""}],
    ids=["another verifier", "another redirect_uri", "no verifier"],
)
def test_the_stand_in_refuses_a_code_with_another_verifier_or_redirect(standin: StandIn, changes: dict) -> None:
    answer = redeem(standin, authorize_directly(standin), **changes)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


def test_the_stand_in_refuses_an_expired_code(standin: StandIn) -> None:
    code = authorize_directly(standin)
    standin.now = lambda: time.time() + 61
    try:
        answer = redeem(standin, code)
    finally:
        standin.now = time.time
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


def test_the_stand_in_requires_s256(standin: StandIn) -> None:
    answer = requests.get(
        f"{standin.issuer}/authorize",
        params={"client_id": GOOGLE_CLIENT_ID, "redirect_uri": REDIRECT, "response_type": "code",
                "scope": "openid", "state": "s", "code_challenge": VERIFIER, "code_challenge_method": "plain"},
        allow_redirects=False,
        timeout=5,
    )  # fmt: skip
    assert query_of(answer.headers["Location"])["error"] == "invalid_request"


def test_the_login_dialog_loads_no_oauth_library_until_a_button_is_clicked() -> None:
    """Authlib, joserfc and requests cost ~0.2 s of imports at every start otherwise (measured with -X importtime)."""
    import subprocess
    import sys

    probe = (
        "import sys, app.views.login_dialog, app.views.settings_dialog; "
        "print(sorted(m for m in ('authlib', 'joserfc', 'core.accounts.oauth.flow') if m in sys.modules))"
    )
    shown = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert shown.stdout.strip() == "[]"
