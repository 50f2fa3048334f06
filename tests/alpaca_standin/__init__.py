"""A local stand-in for one Alpaca paper account (REST + trade-updates stream) for tests.

See ``server.AlpacaStandIn`` for the API; ``/work/shared/ALPACA_PROTOCOL.md`` for the wire facts it follows.
"""

from tests.alpaca_standin.server import AlpacaStandIn

__all__ = ["AlpacaStandIn"]
