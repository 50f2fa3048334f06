"""The vocabulary every layer shares: orders and their statuses, tickets, bars, money, risk limits.

The bottom of the package graph: it imports nothing of ours, so any layer may use it and it never changes because
a service above it did.
"""
