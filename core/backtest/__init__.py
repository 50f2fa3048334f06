"""Backtests: the per-bar engine over the shared fill model, results and metrics."""
