"""Zerodha (Kite Connect), all of it: the broker on the official ``kiteconnect`` SDK, its order-book poller, the
instrument master and the browser log-in. The only package that imports ``kiteconnect``.
"""
