"""Market data: stored bars, history sync, the NYSE calendar, live bar sinks and the simulated market.

The bar type itself is ``core.domain.bars``; Alpaca's feeds are in ``core.adapters.alpaca``.
"""
