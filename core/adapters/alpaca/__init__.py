"""Alpaca, all of it: the broker on alpaca-py, its trade stream, bar history and live bars, the club's shared budget.

The only package that imports alpaca-py. Import what you use from the submodules.
"""
