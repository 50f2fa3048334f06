"""The command lines: ``stratforge-db``, ``stratforge-admin``, ``stratforge-market``, ``stratforge backtest``,
``batch``, ``probes`` and ``generate``. The top of core, beside the app; they import no Qt, so they run on servers
and in scripts.
"""
