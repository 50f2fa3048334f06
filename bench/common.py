"""What every benchmark shares: the JSON line it prints per metric, and scratch databases on a server.

The database drivers are imported where they are used: a benchmark that starts worker processes has its
main module (and so this one) imported again in every worker, and those imports would count as start-up.
"""

from __future__ import annotations

import json

from core.db.scratch import admin_server, drop_database, scratch_url

__all__ = ["admin_server", "drop_database", "emit", "scratch_url"]


def emit(metric: str, value: float, unit: str, **extra: object) -> None:
    """One metric as one JSON object on one line (the benchmark convention in DEVELOPERS.md)."""
    print(json.dumps({"metric": metric, "value": round(value, 4), "unit": unit, **extra}), flush=True)
