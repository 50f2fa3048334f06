"""The command lines: ``stratforge`` (main.py: the commands and the app, one help), and the tools it dispatches to:
``backtest``, ``batch``, ``probes``, ``generate``, ``market``, ``admin``, ``db`` and ``club`` (the last four also
installed as ``stratforge-market`` and so on). errors.py turns whatever a command did not expect into one line.
The top of core, beside the app; they import no Qt, so they run on servers and in scripts.
"""
