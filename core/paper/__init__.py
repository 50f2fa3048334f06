"""Paper sessions: a saved strategy evaluated on live bars, its signals turned into orders through the ledger.

Deliberately empty of imports: a strategy host imports ``core.paper.live_host`` (the trusted drivers) before it
is confined, and must not pay for the database and ledger modules the manager needs. Import
what you use from the submodules (``core.paper.manager``, ``core.paper.types``).
"""
