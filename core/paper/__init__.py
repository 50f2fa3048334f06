"""Paper sessions: a saved strategy evaluated on live bars, its signals turned into orders through the ledger.

Deliberately empty of imports: the sandbox child imports ``core.paper.sandboxed`` (the trusted driver)
before its limits apply, and must not pay for the database and ledger modules the manager needs. Import
what you use from the submodules (``core.paper.manager``, ``core.paper.types``).
"""
