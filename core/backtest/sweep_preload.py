"""What the sweep's fork server loads once, so that every worker it forks starts ready.

Imported only by the fork server process (``sweep._context``): the modules a run needs, and the fast path's
compiled code loaded from numba's cache. Workers are forked from that process and inherit both, instead of
each paying for the imports and the cache load on its first run.
"""

import pandas  # noqa: F401  (what strategies and metrics use)

from core.backtest import sweep  # noqa: F401  (the workers' entry points)
from core.backtest.sandboxed import before_limits
from core.strategy import indicators  # noqa: F401

before_limits()
