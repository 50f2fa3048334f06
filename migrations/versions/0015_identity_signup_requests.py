"""a club sign-up request may carry a Google or Discord identity; approving it links the identity to the new member

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08

Signing in with Google or Discord on a club does not make a member: the admin still approves every newcomer. The
applicant's app verifies the identity (Google's ID token against Google's keys, Discord's ``/users/@me``) and files
the request through ``sf_request_identity_signup``: everything ``sf_request_signup`` checks and stores (the member's
database role still needs a password, so the request still carries its SCRAM verifier), plus the provider and its
subject id in two new ``waitlist`` columns, so the admin sees who is asking. When the admin approves the request
(``waitlist.status`` becomes 'approved' with the new ``user_id``), a trigger links the identity to the new user
(``users.google_id`` / ``users.discord_id``), unless another user has it by then.

The database cannot re-verify the identity (it has no network and no JOSE code): the applicant role could file a
request naming any subject. The admin's approval is the check, as for the name and email of any request.
"""

import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PROVIDERS = ("google", "discord")  # frozen here: core.accounts.oauth.providers.PROVIDERS on 2026-12-08
_SIGNATURE = "sf_request_identity_signup(text, text, text, text, text, text)"


def _prefix() -> str:
    database = op.get_bind().execute(sa.text("SELECT current_database()")).scalar_one()
    return "sf" + hashlib.md5(database.encode("utf-8")).hexdigest()[:6]


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def upgrade() -> None:
    p = _prefix()
    applicant, admin, club = (f"{p}_{k}" for k in ("applicant", "admin", "club"))
    op.add_column("waitlist", sa.Column("auth_provider", sa.String(50)))
    op.add_column("waitlist", sa.Column("provider_subject", sa.String(255)))
    listed = ", ".join(f"'{name}'" for name in PROVIDERS)
    op.create_check_constraint(
        op.f("ck_waitlist_identity"),
        "waitlist",
        f"(auth_provider IS NULL AND provider_subject IS NULL) OR "
        f"(auth_provider IN ({listed}) AND provider_subject IS NOT NULL)",
    )
    definer = "SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp"
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION sf_request_identity_signup(
            p_name text, p_email text, p_username text, p_verifier text, p_provider text, p_subject text)
        RETURNS void LANGUAGE plpgsql {definer} AS $$
        DECLARE
            v_label text := CASE p_provider WHEN 'google' THEN 'Google' WHEN 'discord' THEN 'Discord' END;
        BEGIN
            IF v_label IS NULL THEN
                RAISE EXCEPTION 'Unknown sign-in provider.' USING ERRCODE = 'invalid_parameter_value';
            END IF;
            IF p_subject IS NULL OR p_subject !~ '^[A-Za-z0-9_.-]{{1,255}}$' THEN
                RAISE EXCEPTION 'The request carries no valid % account id.', v_label
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
            IF EXISTS (SELECT 1 FROM users WHERE CASE p_provider WHEN 'google' THEN google_id ELSE discord_id END
                                                 = p_subject)
               OR EXISTS (SELECT 1 FROM waitlist WHERE status = 'waiting' AND auth_provider = p_provider
                          AND provider_subject = p_subject) THEN
                RAISE EXCEPTION 'This % account is already a member of the club or waiting for approval.', v_label
                    USING ERRCODE = 'unique_violation';
            END IF;
            -- Every check and limit of a password sign-up, then the identity on the row it filed.
            PERFORM sf_request_signup(p_name, p_email, p_username, p_verifier);
            UPDATE waitlist SET auth_provider = p_provider, provider_subject = p_subject
            WHERE email = lower(btrim(p_email)) AND status = 'waiting';
        END $$
        """
    )
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION stratforge_link_approved_identity() RETURNS trigger
        LANGUAGE plpgsql {definer} AS $$
        BEGIN
            IF NEW.auth_provider = 'google' THEN
                UPDATE users SET google_id = NEW.provider_subject
                WHERE id = NEW.user_id AND google_id IS NULL
                  AND NOT EXISTS (SELECT 1 FROM users WHERE google_id = NEW.provider_subject);
            ELSIF NEW.auth_provider = 'discord' THEN
                UPDATE users SET discord_id = NEW.provider_subject
                WHERE id = NEW.user_id AND discord_id IS NULL
                  AND NOT EXISTS (SELECT 1 FROM users WHERE discord_id = NEW.provider_subject);
            END IF;
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER trg_waitlist_link_identity AFTER UPDATE OF status, user_id ON waitlist FOR EACH ROW "
        "WHEN (NEW.status = 'approved' AND NEW.user_id IS NOT NULL AND NEW.provider_subject IS NOT NULL "
        "AND OLD.status IS DISTINCT FROM 'approved') EXECUTE FUNCTION stratforge_link_approved_identity()"
    )
    # A new function is executable by PUBLIC unless revoked (0012 revoked only the functions existing then).
    for fn in (_SIGNATURE, "stratforge_link_approved_identity()"):
        op.execute(f"REVOKE EXECUTE ON FUNCTION {fn} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {_SIGNATURE} TO {_q(applicant)}, {_q(admin)}")
    op.execute(f"GRANT EXECUTE ON FUNCTION stratforge_link_approved_identity() TO {_q(admin)}, {_q(club)}")


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS trg_waitlist_link_identity ON waitlist")
    op.execute("DROP FUNCTION IF EXISTS stratforge_link_approved_identity()")
    op.execute(f"DROP FUNCTION IF EXISTS {_SIGNATURE}")
    op.drop_constraint(op.f("ck_waitlist_identity"), "waitlist", type_="check")
    op.drop_column("waitlist", "provider_subject")
    op.drop_column("waitlist", "auth_provider")
