"""Brokers: the protocol and the simulated broker on the shared fill model (AlpacaBroker is in core.adapters.alpaca)."""
