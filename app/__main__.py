"""`python -m app` runs StratForge (same as the `stratforge` console script)."""

import sys

from app.entry import main

sys.exit(main())
