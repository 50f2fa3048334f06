"""ICICI Direct over its official SDK, breeze-connect, run in a child process of its own.

breeze_connect cannot be imported politely: at import it downloads ICICI's security master (``urlopen`` with no
timeout), creates a ``logs/`` folder in the current directory and adds file handlers to two global loggers, and its
API addresses are module constants. So StratForge never imports it in the app's process: ``host`` runs the SDK in a
child (``python -m core.adapters.icici.host``) whose working directory is the app's data folder and whose
environment is its own, and ``host_process.BreezeHost`` speaks to it in JSON lines with a deadline on every call.
``broker.IciciBroker`` is the Broker over that host; ``link.IciciLink`` is the log-in flow.
"""
