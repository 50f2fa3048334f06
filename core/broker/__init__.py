"""Brokers: the protocol, its value types, and implementations (SimBroker, AlpacaBroker)."""
