"""A local stand-in for one Alpaca paper account, for tests: trading REST, historical bars, the
trade-updates stream and the market-data stream.

See ``server.AlpacaStandIn`` for the API; ``/work/shared/ALPACA_PROTOCOL.md`` for the wire facts it follows.
"""

from tests.alpaca_standin.server import AlpacaStandIn

__all__ = ["AlpacaStandIn"]
