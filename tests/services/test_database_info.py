"""What Help > About and the self-test report about the database: the connected server's own version."""

from __future__ import annotations

import re

from core.services.database_info import server_version


def test_the_server_version_is_the_connected_servers(db):
    version = server_version(db.engine)
    assert re.fullmatch(r"\d+(\.\d+)*.*", version)
    with db.engine.connect() as conn:
        assert version == conn.exec_driver_sql("SHOW server_version").scalar_one()
