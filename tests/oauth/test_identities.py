"""Identities linked to StratForge users on a real PostgreSQL: log in by one, create an account from one, link and
unlink in Settings; one identity never names two users, and the last way to log in is never unlinked."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest
from sqlalchemy import select

from core.accounts import AccountDisabled, AccountService, DuplicateAccount, InvalidCredentials, InvalidInput
from core.accounts.identities import NO_PASSWORD, IdentityAccounts
from core.accounts.oauth import (
    DISCORD,
    GOOGLE,
    IdentityTaken,
    LastWayToLogIn,
    OAuthClient,
    OAuthConfig,
    VerifiedIdentity,
)
from core.db.models import LoginSession, User
from core.services.identities import IdentityService
from tests.oauth.browser import FakeBrowser
from tests.oauth.standin import GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET, StandIn

PASSWORD = "Tr4ding-Pass-2026"
ANN_GOOGLE = VerifiedIdentity(GOOGLE, "110248495921238986420", "ann@example.com", True, "Ann Trader", None)
ANN_DISCORD = VerifiedIdentity(DISCORD, "80351110224678912", "ann@example.com", True, "Ann", "https://cdn/a.png")


@pytest.fixture
def identities(db) -> IdentityAccounts:
    return IdentityAccounts(db.session_factory)


def test_an_identity_linked_to_nobody_logs_no_one_in(identities: IdentityAccounts, db) -> None:
    assert identities.log_in(ANN_GOOGLE) is None
    with db.session_factory() as s:
        assert s.scalar(select(LoginSession)) is None


def test_an_account_created_from_google_is_logged_in_and_has_no_usable_password(
    identities: IdentityAccounts, accounts: AccountService, db
) -> None:
    username = identities.propose_username(ANN_GOOGLE)
    assert username == "Ann.Trader"
    result = identities.sign_up(ANN_GOOGLE, username, remember=True)
    assert result.user.email == "ann@example.com" and result.user.role == "admin"  # the database's first account
    assert accounts.resume(result.token) == result.user  # the same login sessions as a password log-in
    with db.session_factory() as s:
        user = s.get(User, result.user.id)
        assert (user.google_id, user.auth_provider, user.password_hash) == (ANN_GOOGLE.subject, "google", NO_PASSWORD)
    for guess in (NO_PASSWORD, "", PASSWORD):
        with pytest.raises((InvalidCredentials, InvalidInput)):
            accounts.log_in("Ann.Trader", guess)


def test_the_linked_identity_logs_its_user_in_as_a_password_would(
    identities: IdentityAccounts, accounts: AccountService
) -> None:
    ann = accounts.sign_up("ann@example.com", "ann", PASSWORD)
    identities.link(ann.id, ANN_GOOGLE)
    result = identities.log_in(ANN_GOOGLE, remember=False)
    assert result is not None and result.user == ann
    assert accounts.resume(result.token) == ann
    accounts.log_out(result.token)  # and it ends like any other


def test_signing_in_with_an_email_that_has_an_account_does_not_take_the_account_over(
    identities: IdentityAccounts, accounts: AccountService
) -> None:
    accounts.sign_up("ann@example.com", "ann", PASSWORD)
    assert identities.log_in(ANN_GOOGLE) is None  # matched by subject only, never by email
    with pytest.raises(DuplicateAccount, match="log in with its password, then link Google"):
        identities.sign_up(ANN_GOOGLE, "ann2")


def test_a_proposed_username_is_free_and_valid(identities: IdentityAccounts, accounts: AccountService) -> None:
    accounts.sign_up("someone@example.com", "Ann.Trader", PASSWORD)
    assert identities.propose_username(ANN_GOOGLE) == "Ann.Trader2"
    odd = replace(ANN_GOOGLE, name="✨ 李", email="x@example.com")
    assert identities.propose_username(odd) == "google.trader"


def test_an_identity_without_a_verified_email_cannot_create_an_account(identities: IdentityAccounts) -> None:
    with pytest.raises(InvalidInput, match="no verified email"):
        identities.sign_up(replace(ANN_DISCORD, email_verified=False), "ann")


def test_one_identity_cannot_be_linked_to_two_users(identities: IdentityAccounts, accounts: AccountService) -> None:
    ann = accounts.sign_up("ann@example.com", "ann", PASSWORD)
    bob = accounts.sign_up("bob@example.com", "bob", PASSWORD)
    identities.link(ann.id, ANN_GOOGLE)
    with pytest.raises(IdentityTaken, match="already linked to another StratForge user"):
        identities.link(bob.id, ANN_GOOGLE)
    with pytest.raises(IdentityTaken):
        identities.sign_up(replace(ANN_GOOGLE, email="new@example.com"), "newcomer")
    assert identities.linked(bob.id).google is None


def test_two_users_linking_one_identity_at_once_end_with_one_link(
    identities: IdentityAccounts, accounts: AccountService, db
) -> None:
    """The unique column decides a race the pre-check cannot see; the loser gets the same clear message."""
    users = [accounts.sign_up(f"u{i}@example.com", f"user{i}", PASSWORD) for i in range(4)]
    outcomes: list[object] = []
    start = threading.Barrier(len(users))

    def link(user_id) -> None:
        start.wait()
        try:
            outcomes.append(identities.link(user_id, ANN_GOOGLE))
        except IdentityTaken as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=link, args=(u.id,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sum(not isinstance(o, IdentityTaken) for o in outcomes) == 1
    with db.session_factory() as s:
        assert len(s.scalars(select(User.id).where(User.google_id == ANN_GOOGLE.subject)).all()) == 1


def test_link_and_unlink(identities: IdentityAccounts, accounts: AccountService) -> None:
    ann = accounts.sign_up("ann@example.com", "ann", PASSWORD)
    linked = identities.link(ann.id, ANN_DISCORD)
    assert (linked.discord, linked.google, linked.has_password) == (ANN_DISCORD.subject, None, True)
    assert identities.link(ann.id, ANN_DISCORD) == linked  # linking again changes nothing
    with pytest.raises(IdentityTaken, match="Another Discord account is linked"):
        identities.link(ann.id, replace(ANN_DISCORD, subject="1"))
    assert identities.unlink(ann.id, DISCORD).discord is None
    assert identities.log_in(ANN_DISCORD) is None


def test_the_last_way_to_log_in_cannot_be_unlinked(identities: IdentityAccounts) -> None:
    created = identities.sign_up(ANN_GOOGLE, "ann").user
    with pytest.raises(LastWayToLogIn, match="Google is your only way to log in: set a password first"):
        identities.unlink(created.id, GOOGLE)
    assert identities.linked(created.id).google == ANN_GOOGLE.subject

    identities.link(created.id, ANN_DISCORD)  # another identity is another way in
    identities.unlink(created.id, GOOGLE)
    with pytest.raises(LastWayToLogIn):
        identities.unlink(created.id, DISCORD)


def test_a_password_set_later_makes_the_identity_unlinkable(
    identities: IdentityAccounts, accounts: AccountService
) -> None:
    created = identities.sign_up(ANN_GOOGLE, "ann").user
    identities.set_password(created.id, PASSWORD)
    assert accounts.log_in("ann", PASSWORD).user.id == created.id
    with pytest.raises(InvalidInput, match="has a password already"):
        identities.set_password(created.id, PASSWORD + "2")
    assert identities.unlink(created.id, GOOGLE).google is None


# --- the whole path, through the service the login dialog uses ------------------------------------------------


def test_a_google_sign_in_through_the_service_logs_in_the_linked_user(
    standin: StandIn, db, accounts: AccountService
) -> None:
    ann = accounts.sign_up("ann@example.com", "ann", PASSWORD)
    config = OAuthConfig({GOOGLE: OAuthClient(GOOGLE, GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET)})
    service = IdentityService(
        db.session_factory, config, open_browser=FakeBrowser(), google_discovery_url=standin.discovery_url, wait_s=5
    )
    identity = service.sign_in(GOOGLE)
    service.link(ann.id, identity)
    again = service.sign_in(GOOGLE)
    result = service.log_in(again, remember=True)
    assert result is not None and result.user == ann
    assert not service.configured(DISCORD)
    assert "STRATFORGE_DISCORD_CLIENT_ID" in service.not_configured_reason(DISCORD)


def test_client_ids_come_from_the_environment_and_no_secret_is_required() -> None:
    config = OAuthConfig.from_env(
        {"STRATFORGE_GOOGLE_CLIENT_ID": " g-id ", "STRATFORGE_DISCORD_CLIENT_ID": "d-id",
         "STRATFORGE_DISCORD_REDIRECT_PORT": "53682"}
    )  # fmt: skip
    assert config.client(GOOGLE) == OAuthClient(GOOGLE, "g-id")
    assert config.client(DISCORD) == OAuthClient(DISCORD, "d-id", redirect_port=53682)
    assert OAuthConfig.from_env({}).clients == {}
    stored = {"oauth/google_client_id": "saved-id", "oauth/discord_client_id": "", "oauth/google_redirect_port": "x"}
    assert OAuthConfig.from_env({}, stored).clients == {GOOGLE: OAuthClient(GOOGLE, "saved-id")}
    assert OAuthConfig.from_env({"STRATFORGE_GOOGLE_CLIENT_ID": "env-id"}, stored).client(GOOGLE) == OAuthClient(
        GOOGLE, "env-id"
    )  # the environment wins
    assert "secret" not in repr(OAuthClient(GOOGLE, "g", "secret"))


def test_a_disabled_account_cannot_log_in_by_its_identity(identities: IdentityAccounts, db) -> None:
    created = identities.sign_up(ANN_GOOGLE, "ann").user
    with db.session_factory() as s:
        s.get(User, created.id).is_active = False
        s.commit()
    with pytest.raises(AccountDisabled):
        identities.log_in(ANN_GOOGLE)


def test_the_service_for_the_apps_database_links_locally_and_a_clubs_only_files_requests(db) -> None:
    stored = {"oauth/google_client_id": "saved-id"}
    assert IdentityService.for_database(db, stored).local
    club = IdentityService.for_club(stored)
    assert not club.local and club.configured(GOOGLE) and not club.configured(DISCORD)
