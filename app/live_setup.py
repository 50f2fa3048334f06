"""Which workstation this run gets: logged in as a club member's own database role, a club member whose orders the
club service checks and routes (keys on this machine are not used: the club service alone holds the account);
otherwise Alpaca paper when keys are configured; on the club's shared database without keys, a club member too;
the simulated market otherwise.

Called on the app's loop after login. A workstation that cannot start (keys rejected, the club's database
listeners unreachable) is not fatal: the trader is told why and gets the simulated market, clearly labelled,
instead of a window that cannot trade.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

from app.async_runner import BlockingRunner
from core.accounts.secrets import SecretStore, SecretsUnavailable
from core.db.club_roles import connected_as_member
from core.db.database import Database
from core.db.trouble import trader_message
from core.live.workstation import Workstation, simulated
from core.market.store import BarStore

log = logging.getLogger(__name__)

SIM_SPEED_ENV = "STRATFORGE_SIM_SPEED"


class MemberWorkstationUnavailable(RuntimeError):
    """A club member's workstation could not start; there is no simulated fallback on the club's database."""


@dataclass(frozen=True)
class LiveSetup:
    workstation: Workstation
    notice: str = ""  # why the mode is not the one the configuration asked for


def sim_speed(environ: dict[str, str] | None = None) -> float:
    """$STRATFORGE_SIM_SPEED (simulated minutes per real minute; default 1, real time)."""
    raw = (os.environ if environ is None else environ).get(SIM_SPEED_ENV, "")
    try:
        speed = float(raw) if raw.strip() else 1.0
    except ValueError:
        log.warning("ignoring %s=%r: not a number", SIM_SPEED_ENV, raw)
        return 1.0
    return speed if 0 < speed <= 10_000 else 1.0


async def start_workstation(
    database: Database, runner: BlockingRunner, secrets: SecretStore, *, speed: float | None = None
) -> LiveSetup:
    """Build and start the workstation for this run (on the app's loop).

    The Alpaca and club workstations are imported only when this run needs one: alpaca-py's models take about a
    second to import, a second the simulated market (no keys, no club) would wait for nothing.
    """
    try:
        keys = await runner.call(secrets.alpaca_keys)
    except SecretsUnavailable:
        keys = None
    url = database.engine.url.render_as_string(hide_password=False)
    loop = asyncio.get_running_loop()
    store = BarStore(database.engine)
    build: Callable[[], Workstation] | None = None
    member = database.mode == "external" and await runner.call(connected_as_member, database.engine)
    if member or (keys is None and database.mode == "external"):
        from core.live.club_member import club_member
    elif keys is not None:
        from core.live.alpaca_workstation import alpaca
    if member:
        build = functools.partial(club_member, store, database.session_factory, url, loop)
        unavailable = "The club's router cannot be reached"
    elif keys is not None:
        build = functools.partial(alpaca, keys, store, database.session_factory, url, loop)
        unavailable = "Alpaca paper trading is unavailable"
    elif database.mode == "external":
        # The club's database, no keys on this machine: the club service holds the account and routes.
        build = functools.partial(club_member, store, database.session_factory, url, loop)
        unavailable = "The club's router cannot be reached"
    notice = ""
    if build is not None:
        started: Workstation | None = None
        try:
            started = await runner.call(build)
            await started.start()
            return LiveSetup(started)
        except Exception as exc:
            log.exception("could not start the workstation")
            notice = f"{unavailable} ({trader_message(exc)}); running on the simulated market instead."
            if started is not None:
                await stop_workstation(started, runner)
            if member:  # a member's role may not write orders: a simulated market on it could not trade at all
                raise MemberWorkstationUnavailable(f"{unavailable}: {trader_message(exc)}") from exc
    ws = simulated(BarStore(database.engine), database.session_factory, speed=speed or sim_speed())
    await ws.start()
    return LiveSetup(ws, notice)


async def stop_workstation(workstation: Workstation, runner: BlockingRunner) -> None:
    try:
        await workstation.stop()
    finally:
        await runner.call(workstation.close)
