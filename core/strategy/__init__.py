"""Strategies: the Strategy API, indicators, and the sandbox that runs traders' code."""
