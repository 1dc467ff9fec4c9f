"""An ingress replica's MySQL calls (serve_app/backends.py) against the real MariaDB."""

from __future__ import annotations

import pytest

from cluster.settings import Settings
from serve_app.backends import Backends


@pytest.mark.timeout(60)
async def test_a_call_cut_off_by_its_timeout_leaves_nothing_for_the_next(stack: Settings) -> None:
    backends = Backends(stack.model_copy(update={"call_timeout_s": 0.5}))
    try:
        with pytest.raises(TimeoutError):
            await backends.query("SELECT SLEEP(1.5), 'late'")
        # The next call takes a connection from the same pool: it must get its own
        # answer, not the late one still on its way to the connection that was cut off.
        assert await backends.query("SELECT 42") == [(42,)]
        assert await backends.query("SELECT 'x', 7") == [("x", 7)]
    finally:
        await backends.close()


@pytest.mark.timeout(60)
async def test_a_refused_statement_leaves_its_connection_fit_for_the_next(stack: Settings) -> None:
    import pymysql

    from tests.random_refs import suffix

    backends = Backends(stack)
    insert = (
        "INSERT INTO users (user_id, username, password_hash, role) VALUES (%s, %s, 'x', 'buyer')"
    )
    name = f"dup-{suffix()}"
    try:
        [(connection,)] = await backends.query("SELECT CONNECTION_ID()")
        await backends.execute(insert, (f"u1-{name}", name))
        with pytest.raises(pymysql.err.IntegrityError):
            await backends.execute(insert, (f"u2-{name}", name))
        # Rolled back, not dropped: the same connection serves the next call, and no
        # transaction of the refused insert is left open on it.
        assert await backends.query("SELECT CONNECTION_ID(), @@in_transaction") == [(connection, 0)]
        await backends.execute("DELETE FROM users WHERE username = %s", (name,))
    finally:
        await backends.close()
