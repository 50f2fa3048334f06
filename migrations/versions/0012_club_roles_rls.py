"""per-trader database roles, row-level security, order requests, the admin's functions, an append-only audit trail

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07

In a club every trader's app used to connect with the same credentials, so any member with `psql` could read and
move every trader's books. From this revision the database itself is the boundary:

- four group roles per club, named after the database (core/db/club_roles.py): ``<p>_trader`` (every trader's
  login role is a member), ``<p>_club`` (the club service: the only writer of fills, positions, cash and order
  status), ``<p>_admin`` (manages members) and ``<p>_applicant`` (may only file a sign-up request);
- row-level security on every table with user-owned rows: a trader's role sees and changes only its own rows
  (``sf_uid()``: the user of the session's login role), and may reference only parents it can see;
- shared market tables are read-only to traders; the club router's tables and the sign-up requests are not
  theirs at all;
- a trader's role cannot write orders or money: it files ``order_requests``, which the club service checks (the
  one risk chain, in Python) and answers;
- the audit trail (trade, system and API usage logs) is append-only for every role; only the admin's retention
  function deletes from it.

Row-level security is enabled, not forced: the owner (the solo app on its embedded database, the migrations) is
unaffected, so a solo database works exactly as before. Creating roles needs CREATEROLE: the admin runs
``stratforge-db upgrade`` as the database's owner with that right (or as a superuser).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here (a migration must not read the current code): which tables hold what.
# A trader reads and writes its own rows; WITH CHECK also demands that every parent it names is visible to it.
TRADER_OWN_RW = (
    "user_profiles", "user_rules", "risk_settings", "login_sessions", "broker_connections", "backtest_results",
    "batch_jobs", "variable_lists", "decision_contexts", "campaign_checks", "campaign_fills", "journal_entries",
    "strategies", "trading_sessions", "strategy_performance", "signals",
)  # fmt: skip
# Child tables without a user column: owned through their parent (the trader's own parent, never a public one).
TRADER_CHILD_RW = {
    "batch_job_runs": ("batch_job_id", "batch_jobs"),
    "strategy_versions": ("strategy_id", "strategies"),
    "session_snapshots": ("session_id", "trading_sessions"),
}
# Read-only for a trader: the club service writes them.
TRADER_OWN_READ = ("orders", "positions")
AUDIT_TABLES = ("trade_logs", "system_logs", "api_usage_logs")
SHARED_READ = (
    "tickers", "ohlcv_bars", "data_sync_log", "computed_features", "probe_strategies", "strategy_probe_results",
    "strategy_probe_trades",
)  # fmt: skip
CLUB_ONLY = ("club_route_steps", "club_route_allocations", "club_follows", "club_stop_triggers")
# Parents a trader's row may name: each must be visible to the trader (row-level security decides which).
PARENTS = {
    "batch_jobs": (("strategy_id", "strategies"),),
    "strategy_performance": (("strategy_id", "strategies"),),
    "backtest_results": (
        ("strategy_version_id", "strategy_versions"), ("batch_job_id", "batch_jobs"), ("strategy_id", "strategies"),
    ),
    "trading_sessions": (("strategy_version_id", "strategy_versions"), ("strategy_id", "strategies")),
    "signals": (("session_id", "trading_sessions"),),
    "campaign_fills": (("fill_id", "fills"), ("group_id", "fills")),
    "decision_contexts": (("fill_id", "fills"), ("strategy_id", "strategies")),
    "journal_entries": (("fill_id", "fills"),),
    "campaign_checks": (("decision_context_id", "decision_contexts"), ("order_id", "orders")),
    "fills": (("broker_connection_id", "broker_connections"), ("session_id", "trading_sessions"),
              ("signal_id", "signals")),
    "trade_logs": (("order_id", "orders"),),
}  # fmt: skip
# What a trader's role may change on its own users row (never money, role or activity).
USER_EDITABLE = (
    "display_name", "avatar_url", "phone", "address", "date_of_birth", "gender", "preferences", "last_login_at",
)  # fmt: skip
# The club service writes these (the ledger, the router, the bars it streams). It never deletes the books: only
# the owner does (so only the owner's deletion of an order or a user takes its audit rows along).
CLUB_BOOKS = ("orders", "fills", "positions", "position_history", "order_requests", "signals")
CLUB_WRITES = ("tickers", "ohlcv_bars", "data_sync_log", *CLUB_ONLY)
OPEN_ORDER_STATUSES = "('pending', 'submitted', 'accepted', 'partially_filled', 'pending_cancel')"
ME = "(SELECT sf_uid())"


def _prefix() -> str:
    database = op.get_bind().execute(sa.text("SELECT current_database()")).scalar_one()
    return "sf" + hashlib.md5(database.encode("utf-8")).hexdigest()[:6]


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _visible(column: str, parent: str) -> str:
    return f"({column} IS NULL OR EXISTS (SELECT 1 FROM {parent} p WHERE p.id = {column}))"


def _check(table: str, own: str) -> str:
    return " AND ".join([own, *(_visible(c, p) for c, p in PARENTS.get(table, ()))])


def upgrade() -> None:
    p = _prefix()
    trader, club, admin, applicant = (f"{p}_{k}" for k in ("trader", "club", "admin", "applicant"))
    _create_tables()
    _create_roles(trader, club, admin, applicant)
    _create_functions(p, trader, admin)
    _grant(trader, club, admin, applicant)
    _policies(trader, club, admin)
    _audit_append_only()


def _create_tables() -> None:
    op.create_table(
        "club_members",
        sa.Column("role_name", sa.Text, primary_key=True),
        sa.Column("user_id", UUID(as_uuid=True), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False,
                  unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )  # fmt: skip
    op.add_column("waitlist", sa.Column("username", sa.String(50)))
    op.add_column("waitlist", sa.Column("password_verifier", sa.Text))
    op.add_column("waitlist", sa.Column("user_id", UUID(as_uuid=True), sa.ForeignKey("users.id", ondelete="SET NULL")))
    op.add_column("waitlist", sa.Column("decided_at", sa.DateTime(timezone=True)))
    # PL/pgSQL, not SQL: a SQL function that cannot be inlined (SECURITY DEFINER) is planned again at every call,
    # once per table and statement under row-level security; PL/pgSQL keeps its plan for the session
    # (bench.rls: the books read as a trader 0.35 -> 0.31 ms).
    op.execute(
        "CREATE OR REPLACE FUNCTION sf_uid() RETURNS uuid LANGUAGE plpgsql STABLE SECURITY DEFINER "
        "SET search_path = pg_catalog, public, pg_temp AS $$ BEGIN RETURN ("
        "SELECT m.user_id FROM public.club_members m JOIN public.users u ON u.id = m.user_id AND u.is_active "
        "WHERE m.role_name = session_user); END $$"
    )
    op.create_table(
        "order_requests",
        sa.Column("id", UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()")),
        sa.Column("user_id", UUID(as_uuid=True), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False,
                  server_default=sa.text("sf_uid()")),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("ticket", JSONB),
        sa.Column("session_id", UUID(as_uuid=True)),
        sa.Column("signal_id", UUID(as_uuid=True)),
        sa.Column("strategy_id", UUID(as_uuid=True)),
        sa.Column("order_id", UUID(as_uuid=True)),
        sa.Column("status", sa.String(12), nullable=False, server_default="requested"),
        sa.Column("reason", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("answered_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("kind IN ('place', 'cancel')", name="kind"),
        sa.CheckConstraint(
            "status IN ('requested', 'processing', 'accepted', 'rejected', 'withdrawn')", name="status"
        ),
        sa.CheckConstraint("(kind = 'place') = (ticket IS NOT NULL)", name="ticket_iff_place"),
    )  # fmt: skip
    op.create_index(
        "ix_order_requests_waiting", "order_requests", ["created_at"],
        postgresql_where=sa.text("status IN ('requested', 'processing')"),
    )  # fmt: skip
    op.create_index("ix_order_requests_user_id_created_at", "order_requests", ["user_id", "created_at"])
    op.execute(
        "CREATE OR REPLACE FUNCTION stratforge_order_request_notify() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN PERFORM pg_notify('stratforge_order_requests', ''); RETURN NEW; END $$"
    )
    op.execute(
        "CREATE TRIGGER trg_order_requests_notify AFTER INSERT ON order_requests "
        "FOR EACH ROW EXECUTE FUNCTION stratforge_order_request_notify()"
    )
    op.add_column(
        "orders",
        sa.Column("request_id", UUID(as_uuid=True), sa.ForeignKey("order_requests.id", ondelete="SET NULL")),
    )
    op.create_unique_constraint("uq_orders_request_id", "orders", ["request_id"])
    op.add_column(
        "system_logs",
        sa.Column("user_id", UUID(as_uuid=True), sa.ForeignKey("users.id", ondelete="SET NULL"),
                  server_default=sa.text("sf_uid()")),
    )  # fmt: skip
    op.create_index("ix_system_logs_user_id", "system_logs", ["user_id"])


def _create_roles(trader: str, club: str, admin: str, applicant: str) -> None:
    for role, login in ((trader, False), (club, True), (admin, False), (applicant, True)):
        option = "LOGIN" if login else "NOLOGIN"
        op.execute(
            f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN "
            f"CREATE ROLE {_q(role)} {option}; END IF; END $$"
        )
        op.execute(f"ALTER ROLE {_q(role)} {option}")  # a role left by an earlier database of the same name


def _create_functions(p: str, trader: str, admin: str) -> None:
    definer = "SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp"
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION sf_request_signup(p_name text, p_email text, p_username text, p_verifier text)
        RETURNS void LANGUAGE plpgsql {definer} AS $$
        DECLARE
            v_email text := lower(btrim(coalesce(p_email, '')));
            v_username text := btrim(coalesce(p_username, ''));
        BEGIN
            IF v_username !~ '^[A-Za-z0-9_.-]{{3,50}}$' THEN
                RAISE EXCEPTION 'The username must be 3 to 50 letters, digits, ''.'', ''_'' or ''-''.'
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
            IF length(v_email) > 255 OR v_email !~ '^[^@[:space:]]+@[^@[:space:]]+\\.[^@[:space:]]+$' THEN
                RAISE EXCEPTION 'Enter a valid email address, like name@example.com.'
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
            IF length(coalesce(p_name, '')) > 255 THEN
                RAISE EXCEPTION 'The name may be at most 255 characters.' USING ERRCODE = 'invalid_parameter_value';
            END IF;
            IF p_verifier IS NULL OR p_verifier NOT LIKE 'SCRAM-SHA-256$%' OR length(p_verifier) > 512 THEN
                RAISE EXCEPTION 'The request carries no valid password verifier.'
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
            IF EXISTS (SELECT 1 FROM users WHERE email = v_email OR lower(username) = lower(v_username))
               OR EXISTS (SELECT 1 FROM waitlist WHERE status = 'waiting'
                          AND (email = v_email OR lower(username) = lower(v_username))) THEN
                RAISE EXCEPTION 'That email or username is already registered or waiting for approval.'
                    USING ERRCODE = 'unique_violation';
            END IF;
            IF (SELECT count(*) FROM waitlist WHERE status = 'waiting') >= 500 THEN  -- the URL is semi-public
                RAISE EXCEPTION 'The club has too many sign-up requests waiting; ask the club admin.'
                    USING ERRCODE = 'program_limit_exceeded';
            END IF;
            DELETE FROM waitlist WHERE email = v_email AND status <> 'waiting';  -- a refused applicant may ask again
            INSERT INTO waitlist (name, email, username, password_verifier, status)
            VALUES (coalesce(nullif(btrim(p_name), ''), v_username), v_email, v_username, p_verifier, 'waiting');
        END $$
        """
    )
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION sf_admin_grant_login(p_user uuid, p_verifier text)
        RETURNS text LANGUAGE plpgsql {definer} AS $$
        DECLARE
            v_user users%ROWTYPE;
            v_role text;
            v_owner uuid;
        BEGIN
            SELECT * INTO v_user FROM users WHERE id = p_user;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'No such user.' USING ERRCODE = 'invalid_parameter_value';
            END IF;
            IF p_verifier IS NULL OR p_verifier NOT LIKE 'SCRAM-SHA-256$%' OR length(p_verifier) > 512 THEN
                RAISE EXCEPTION 'A login needs a SCRAM-SHA-256 password verifier.'
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
            v_role := '{p}_u_' || lower(v_user.username);
            SELECT user_id INTO v_owner FROM club_members WHERE role_name = v_role;
            IF v_owner IS NOT NULL AND v_owner <> p_user THEN
                RAISE EXCEPTION 'The login % belongs to another user.', v_role USING ERRCODE = 'unique_violation';
            END IF;
            IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = v_role) THEN
                IF v_owner IS NULL THEN
                    RAISE EXCEPTION 'A database role named % exists and is not this club''s.', v_role
                        USING ERRCODE = 'duplicate_object';
                END IF;
                EXECUTE format('ALTER ROLE %I LOGIN PASSWORD %L', v_role, p_verifier);
            ELSE
                EXECUTE format('CREATE ROLE %I LOGIN INHERIT CONNECTION LIMIT 40 PASSWORD %L IN ROLE %I',
                               v_role, p_verifier, '{trader}');
            END IF;
            IF v_user.role = 'admin' THEN
                EXECUTE format('GRANT %I TO %I', '{admin}', v_role);
            ELSIF pg_has_role(v_role, '{admin}', 'MEMBER') THEN
                EXECUTE format('REVOKE %I FROM %I', '{admin}', v_role);
            END IF;
            INSERT INTO club_members (role_name, user_id) VALUES (v_role, p_user) ON CONFLICT (role_name) DO NOTHING;
            IF NOT v_user.is_active THEN
                EXECUTE format('ALTER ROLE %I NOLOGIN', v_role);
            END IF;
            RETURN v_role;
        END $$
        """
    )
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION sf_admin_set_active(p_user uuid, p_active boolean)
        RETURNS void LANGUAGE plpgsql {definer} AS $$
        DECLARE
            v_role text;
        BEGIN
            UPDATE users SET is_active = p_active WHERE id = p_user;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'No such user.' USING ERRCODE = 'invalid_parameter_value';
            END IF;
            FOR v_role IN SELECT role_name FROM club_members WHERE user_id = p_user LOOP
                EXECUTE format('ALTER ROLE %I %s', v_role, CASE WHEN p_active THEN 'LOGIN' ELSE 'NOLOGIN' END);
                IF NOT p_active THEN
                    PERFORM pg_terminate_backend(pid) FROM pg_stat_activity
                    WHERE usename = v_role AND pid <> pg_backend_pid();
                END IF;
            END LOOP;
            DELETE FROM login_sessions WHERE user_id = p_user AND NOT p_active;
            INSERT INTO system_logs (component, log_level, message, data, user_id)
            VALUES ('admin', 'INFO', CASE WHEN p_active THEN 'member enabled' ELSE 'member disabled' END,
                    jsonb_build_object('user_id', p_user, 'by', session_user), NULL);
        END $$
        """
    )
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION sf_admin_set_role(p_user uuid, p_role text)
        RETURNS void LANGUAGE plpgsql {definer} AS $$
        DECLARE
            v_role text;
        BEGIN
            IF p_role IS NULL OR p_role NOT IN ('trader', 'investor', 'admin') THEN
                RAISE EXCEPTION 'A member is a trader, an investor or an admin.'
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
            UPDATE users SET role = p_role WHERE id = p_user;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'No such user.' USING ERRCODE = 'invalid_parameter_value';
            END IF;
            FOR v_role IN SELECT role_name FROM club_members WHERE user_id = p_user LOOP
                IF p_role = 'admin' THEN
                    EXECUTE format('GRANT %I TO %I', '{admin}', v_role);
                ELSIF pg_has_role(v_role, '{admin}', 'MEMBER') THEN
                    EXECUTE format('REVOKE %I FROM %I', '{admin}', v_role);
                END IF;
            END LOOP;
            INSERT INTO system_logs (component, log_level, message, data, user_id)
            VALUES ('admin', 'INFO', 'member role changed',
                    jsonb_build_object('user_id', p_user, 'role', p_role, 'by', session_user), NULL);
        END $$
        """
    )
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION sf_admin_reset_balance(p_user uuid, p_amount numeric)
        RETURNS void LANGUAGE plpgsql {definer} AS $$
        BEGIN
            IF p_amount IS NULL OR p_amount <= 0 OR p_amount > 1000000000000 THEN
                RAISE EXCEPTION 'The balance must be above 0 and at most 1,000,000,000,000.'
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
            PERFORM 1 FROM users WHERE id = p_user FOR UPDATE;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'No such user.' USING ERRCODE = 'invalid_parameter_value';
            END IF;
            IF EXISTS (SELECT 1 FROM orders WHERE user_id = p_user AND status IN {OPEN_ORDER_STATUSES}) THEN
                RAISE EXCEPTION 'The member has open orders: they must be canceled before the balance is reset.'
                    USING ERRCODE = 'object_not_in_prerequisite_state';
            END IF;
            IF EXISTS (SELECT 1 FROM positions WHERE user_id = p_user AND quantity <> 0) THEN
                RAISE EXCEPTION 'The member holds positions: they must be closed before the balance is reset.'
                    USING ERRCODE = 'object_not_in_prerequisite_state';
            END IF;
            UPDATE users SET virtual_balance = p_amount, starting_balance = p_amount, reserved_balance = 0,
                             realized_pnl = 0, fees_paid = 0, realized_day = NULL, realized_day_pnl = 0
            WHERE id = p_user;
            INSERT INTO system_logs (component, log_level, message, data, user_id)
            VALUES ('admin', 'INFO', 'balance reset',
                    jsonb_build_object('user_id', p_user, 'amount', p_amount::text, 'by', session_user), NULL);
        END $$
        """
    )
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION sf_admin_purge_audit(p_before timestamptz)
        RETURNS bigint LANGUAGE plpgsql {definer} AS $$
        DECLARE
            v_count bigint := 0;
            v_n bigint;
        BEGIN
            IF p_before IS NULL OR p_before > now() - interval '1 hour' THEN
                RAISE EXCEPTION 'Audit rows younger than an hour are kept (the rate budget counts them).'
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
            PERFORM set_config('stratforge.audit_purge', 'on', true);
            DELETE FROM trade_logs WHERE created_at < p_before;
            GET DIAGNOSTICS v_n = ROW_COUNT; v_count := v_count + v_n;
            DELETE FROM system_logs WHERE created_at < p_before;
            GET DIAGNOSTICS v_n = ROW_COUNT; v_count := v_count + v_n;
            DELETE FROM api_usage_logs WHERE created_at < p_before;
            GET DIAGNOSTICS v_n = ROW_COUNT; v_count := v_count + v_n;
            PERFORM set_config('stratforge.audit_purge', 'off', true);
            INSERT INTO system_logs (component, log_level, message, data, user_id)
            VALUES ('admin', 'INFO', 'audit trail purged',
                    jsonb_build_object('before', p_before, 'rows', v_count, 'by', session_user), NULL);
            RETURN v_count;
        END $$
        """
    )
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION sf_withdraw_order_request(p_id uuid)
        RETURNS boolean LANGUAGE plpgsql {definer} AS $$
        BEGIN
            UPDATE order_requests SET status = 'withdrawn', answered_at = now(), reason = 'Withdrawn by the trader.'
            WHERE id = p_id AND user_id = sf_uid() AND status = 'requested';
            RETURN FOUND;
        END $$
        """
    )


def _grant(trader: str, club: str, admin: str, applicant: str) -> None:
    everyone = ", ".join(_q(r) for r in (trader, club, admin, applicant))
    # Functions: nobody by default (PostgreSQL grants EXECUTE to PUBLIC), then each group what it needs.
    op.execute("REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA public FROM PUBLIC")
    op.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    op.execute(f"GRANT USAGE ON SCHEMA public TO {everyone}")
    for fn in ("stratforge_set_updated_at()", "stratforge_fills_immutable()", "stratforge_order_request_notify()"):
        op.execute(f"GRANT EXECUTE ON FUNCTION {fn} TO {everyone}")
    op.execute(f"GRANT EXECUTE ON FUNCTION sf_uid() TO {_q(trader)}, {_q(club)}, {_q(admin)}")
    op.execute(f"GRANT EXECUTE ON FUNCTION sf_request_signup(text, text, text, text) TO {_q(applicant)}, {_q(admin)}")
    for fn in ("sf_admin_grant_login(uuid, text)", "sf_admin_set_active(uuid, boolean)",
               "sf_admin_set_role(uuid, text)", "sf_admin_reset_balance(uuid, numeric)",
               "sf_admin_purge_audit(timestamptz)"):  # fmt: skip
        op.execute(f"GRANT EXECUTE ON FUNCTION {fn} TO {_q(admin)}")
    op.execute(f"GRANT EXECUTE ON FUNCTION sf_withdraw_order_request(uuid) TO {_q(trader)}")
    ledger_functions = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                "WHERE n.nspname = 'public' AND p.proname IN ('sf_apply_event', 'sf_money')"
            )
        )
        .scalars()
    )
    for fn in ledger_functions:
        op.execute(f"GRANT EXECUTE ON FUNCTION {fn} TO {_q(club)}")
    op.execute(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {_q(club)}")

    op.execute(f"GRANT SELECT ON alembic_version TO {everyone}")
    op.execute(
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON {', '.join((*TRADER_OWN_RW, *TRADER_CHILD_RW))} TO {_q(trader)}"
    )
    op.execute(
        f"GRANT SELECT ON users, position_history, {', '.join((*TRADER_OWN_READ, *SHARED_READ))} TO {_q(trader)}"
    )
    op.execute(f"GRANT UPDATE ({', '.join(USER_EDITABLE)}) ON users TO {_q(trader)}")
    op.execute(f"GRANT SELECT, INSERT, DELETE ON fills TO {_q(trader)}")
    op.execute(f"GRANT SELECT, INSERT ON order_requests, {', '.join(AUDIT_TABLES)} TO {_q(trader)}")

    op.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {_q(club)}")
    op.execute(f"GRANT INSERT, UPDATE ON {', '.join(CLUB_BOOKS)} TO {_q(club)}")
    op.execute(f"GRANT INSERT, UPDATE, DELETE ON {', '.join(CLUB_WRITES)} TO {_q(club)}")
    op.execute(f"GRANT UPDATE ON users TO {_q(club)}")
    op.execute(f"GRANT INSERT ON {', '.join(AUDIT_TABLES)} TO {_q(club)}")
    op.execute(f"GRANT UPDATE (status_code, duration_ms) ON api_usage_logs TO {_q(club)}")

    op.execute(f"GRANT SELECT ON users, user_profiles, risk_settings, waitlist, club_members, {', '.join(AUDIT_TABLES)} "
               f"TO {_q(admin)}")  # fmt: skip
    op.execute(f"GRANT INSERT ON users, user_profiles, risk_settings TO {_q(admin)}")
    op.execute(f"GRANT UPDATE (status, user_id, decided_at, notes) ON waitlist TO {_q(admin)}")


def _policies(trader: str, club: str, admin: str) -> None:
    def policy(table: str, name: str, role: str, command: str, using: str | None, check: str | None) -> None:
        clauses = f" USING ({using})" if using else ""
        clauses += f" WITH CHECK ({check})" if check else ""
        op.execute(f"CREATE POLICY {name} ON {table} AS PERMISSIVE FOR {command} TO {_q(role)}{clauses}")

    own = f"user_id = {ME}"
    protected = (
        *TRADER_OWN_RW, *TRADER_CHILD_RW, *TRADER_OWN_READ, *AUDIT_TABLES, *CLUB_ONLY, "users", "fills",
        "position_history", "order_requests", "club_members", "waitlist",
    )  # fmt: skip
    for table in protected:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        policy(table, "club_all", club, "ALL", "true", "true")

    for table in TRADER_OWN_RW:
        policy(table, "trader_own", trader, "ALL", own, _check(table, own))
    policy("strategies", "trader_public", trader, "SELECT", "is_public", None)
    for table, (column, parent) in TRADER_CHILD_RW.items():
        mine = f"{column} IN (SELECT id FROM {parent} WHERE user_id = {ME})"
        policy(table, "trader_own", trader, "ALL", mine, mine)
    policy("strategy_versions", "trader_public", trader, "SELECT",
           "strategy_id IN (SELECT id FROM strategies WHERE is_public)", None)  # fmt: skip
    for table in TRADER_OWN_READ:
        policy(table, "trader_own", trader, "SELECT", own, None)
    policy("users", "trader_own", trader, "SELECT", f"id = {ME}", None)
    policy("users", "trader_own_edit", trader, "UPDATE", f"id = {ME}", f"id = {ME}")
    policy("position_history", "trader_own", trader, "SELECT", f"position_id IN (SELECT id FROM positions WHERE {own})",
           None)  # fmt: skip
    policy("fills", "trader_own", trader, "SELECT", own, None)
    imported = f"{own} AND source <> 'ledger' AND order_id IS NULL"
    policy("fills", "trader_import", trader, "INSERT", None, _check("fills", imported))
    policy("fills", "trader_import_delete", trader, "DELETE", imported, None)
    policy("order_requests", "trader_own", trader, "SELECT", own, None)
    policy("order_requests", "trader_request", trader, "INSERT", None,
           f"{own} AND status = 'requested' AND reason IS NULL AND answered_at IS NULL "
           "AND (kind = 'cancel' OR order_id IS NULL)")  # fmt: skip
    for table in AUDIT_TABLES:
        policy(table, "trader_own", trader, "SELECT", own, None)
        policy(table, "trader_append", trader, "INSERT", None, _check(table, own))
    # The admin reads members and creates new ones; every change to an existing member goes through an sf_admin_*
    # function (an admin is also a trader: a policy for ALL would let the trader grants reach others' rows).
    for table in ("users", "user_profiles", "risk_settings", "waitlist", "club_members", *AUDIT_TABLES):
        policy(table, "admin_read", admin, "SELECT", "true", None)
    for table in ("users", "user_profiles", "risk_settings"):
        policy(table, "admin_create", admin, "INSERT", None, "true")
    policy("waitlist", "admin_decide", admin, "UPDATE", "true", "true")


def _audit_append_only() -> None:
    """Belt and braces beside the grants: no role, the club's included, rewrites history; only the admin's
    retention function (which sets a transaction-local flag) deletes, and only old rows."""
    op.execute(
        """
        CREATE OR REPLACE FUNCTION stratforge_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' AND current_setting('stratforge.audit_purge', true) = 'on' THEN
                RETURN OLD;
            END IF;
            -- A foreign key's action (the order or user a row describes was deleted, which only the owner may do):
            -- the rows go with it, or their user becomes NULL.
            IF pg_trigger_depth() > 1 THEN
                RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
            END IF;
            -- A call's row is written before the call (the rate budget counts it) and its outcome once after:
            -- filling in what was blank is completing the record, not rewriting it.
            IF TG_OP = 'UPDATE' AND TG_TABLE_NAME = 'api_usage_logs' THEN  -- nested: OLD of another table has no
                IF to_jsonb(OLD) ->> 'status_code' IS NULL AND to_jsonb(OLD) ->> 'duration_ms' IS NULL  -- such field
                   AND to_jsonb(NEW) - 'status_code' - 'duration_ms' = to_jsonb(OLD) - 'status_code' - 'duration_ms'
                THEN
                    RETURN NEW;
                END IF;
            END IF;
            RAISE EXCEPTION 'the audit trail is append-only: % on % is refused', TG_OP, TG_TABLE_NAME
                USING ERRCODE = 'insufficient_privilege';
        END $$
        """
    )
    for table in AUDIT_TABLES:
        op.execute(
            f"CREATE TRIGGER trg_{table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION stratforge_audit_append_only()"
        )
    p = _prefix()
    everyone = ", ".join(_q(f"{p}_{k}") for k in ("trader", "club", "admin", "applicant"))
    op.execute(f"GRANT EXECUTE ON FUNCTION stratforge_audit_append_only() TO {everyone}")


def downgrade() -> None:
    p = _prefix()
    groups = [f"{p}_{k}" for k in ("trader", "club", "admin", "applicant")]
    bind = op.get_bind()
    members = list(bind.execute(sa.text("SELECT role_name FROM club_members")).scalars())
    for table in AUDIT_TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS trg_{table}_append_only ON {table}")
    op.execute("DROP FUNCTION IF EXISTS stratforge_audit_append_only()")
    policies = bind.execute(sa.text("SELECT tablename, policyname FROM pg_policies WHERE schemaname = 'public'")).all()
    for table, name in policies:
        op.execute(f"DROP POLICY IF EXISTS {_q(name)} ON {_q(table)}")
    tables = bind.execute(
        sa.text("SELECT relname FROM pg_class WHERE relrowsecurity AND relnamespace = 'public'::regnamespace")
    ).scalars()
    for table in list(tables):
        op.execute(f"ALTER TABLE {_q(table)} DISABLE ROW LEVEL SECURITY")
    op.execute("GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO PUBLIC")
    for fn in ("sf_withdraw_order_request(uuid)", "sf_admin_purge_audit(timestamptz)",
               "sf_admin_reset_balance(uuid, numeric)", "sf_admin_set_role(uuid, text)",
               "sf_admin_set_active(uuid, boolean)",
               "sf_admin_grant_login(uuid, text)", "sf_request_signup(text, text, text, text)"):  # fmt: skip
        op.execute(f"DROP FUNCTION IF EXISTS {fn}")
    op.drop_index("ix_system_logs_user_id", table_name="system_logs")
    op.drop_column("system_logs", "user_id")
    op.drop_constraint("uq_orders_request_id", "orders", type_="unique")
    op.drop_column("orders", "request_id")
    op.execute("DROP TRIGGER IF EXISTS trg_order_requests_notify ON order_requests")
    op.execute("DROP FUNCTION IF EXISTS stratforge_order_request_notify()")
    op.drop_table("order_requests")
    for column in ("decided_at", "user_id", "password_verifier", "username"):
        op.drop_column("waitlist", column)
    op.drop_table("club_members")
    op.execute("DROP FUNCTION IF EXISTS sf_uid()")
    for role in [*members, *groups]:
        exists = bind.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).scalar()
        if exists:
            op.execute(f"DROP OWNED BY {_q(role)}")
            op.execute(f"DROP ROLE {_q(role)}")
