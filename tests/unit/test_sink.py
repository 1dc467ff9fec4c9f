"""OrderSinkLoop over fakes: commit after the write, a refused batch is written again whole."""

from typing import Any

import pytest

from actors.services.sink import OrderSinkLoop


def events(*order_ids: str) -> list[dict[str, Any]]:
    return [{"type": "created", "order_id": o} for o in order_ids]


class FakeSource:
    """Hands out the queued batches, then empty ones; ``log`` is shared with the store."""

    def __init__(self, log: list[tuple], *batches: list[dict[str, Any]]) -> None:
        self.log = log
        self.batches = list(batches)
        self.fail_commits = 0

    async def fetch(self, max_records: int, wait_ms: int) -> list[dict[str, Any]]:
        self.log.append(("fetch", max_records, wait_ms))
        return self.batches.pop(0) if self.batches else []

    async def commit(self) -> None:
        if self.fail_commits:
            self.fail_commits -= 1
            raise ConnectionError("kafka away (fake)")
        self.log.append(("commit",))


class FakeOrderStore:
    def __init__(self, log: list[tuple]) -> None:
        self.log = log
        self.fail_next = 0
        self.refuse: set[str] = set()  # order ids whose rows it refuses as data

    async def apply(self, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if self.fail_next:
            self.fail_next -= 1
            raise ConnectionError("mysql away (fake)")
        self.log.append(("apply", tuple(e["order_id"] for e in batch)))
        return [e for e in batch if e["order_id"] in self.refuse]


def sink_of(
    *batches: list[dict[str, Any]], log: list[tuple] | None = None, **kwargs: Any
) -> tuple[OrderSinkLoop, FakeSource, FakeOrderStore]:
    log = [] if log is None else log
    source, store = FakeSource(log, *batches), FakeOrderStore(log)
    return OrderSinkLoop(source, store, **kwargs), source, store


async def test_offsets_commit_only_after_the_store_applied_the_batch() -> None:
    loop, source, _ = sink_of(events("o1", "o2"), max_records=50, wait_ms=7)
    assert await loop.step() == 2
    assert source.log == [("fetch", 50, 7), ("apply", ("o1", "o2")), ("commit",)]


async def test_a_refused_batch_stays_pending_and_is_written_again_whole() -> None:
    loop, source, store = sink_of(events("o1", "o2"), events("o3"))
    store.fail_next = 1
    with pytest.raises(ConnectionError):
        await loop.step()
    assert source.log == [("fetch", 500, 200)]  # nothing applied, nothing committed

    assert await loop.step() == 2
    assert source.log[1:] == [("apply", ("o1", "o2")), ("commit",)]  # no new fetch

    assert await loop.step() == 1
    assert source.log[3:] == [("fetch", 500, 200), ("apply", ("o3",)), ("commit",)]


async def test_a_batch_refused_twice_is_still_the_same_batch() -> None:
    loop, source, store = sink_of(events("o1"), events("o2"))
    store.fail_next = 2
    for _ in range(2):
        with pytest.raises(ConnectionError):
            await loop.step()
    assert await loop.step() == 1
    assert source.log == [("fetch", 500, 200), ("apply", ("o1",)), ("commit",)]


async def test_the_hook_runs_after_apply_and_before_commit() -> None:
    log: list[tuple] = []

    async def between_commits(batch: list[dict]) -> None:
        log.append(("hook", tuple(e["order_id"] for e in batch)))

    loop, _, _ = sink_of(events("o1"), log=log, between_commits=between_commits)
    assert await loop.step() == 1
    assert log == [("fetch", 500, 200), ("apply", ("o1",)), ("hook", ("o1",)), ("commit",)]


async def test_a_failure_before_the_commit_writes_the_batch_again() -> None:
    # Killed in the hook or a commit that did not reach Kafka: the batch is durable
    # but its offsets are not, so it is written again (the store's writes are idempotent).
    failures = {"hook": 1}

    async def between_commits(batch: list[dict]) -> None:
        if failures["hook"]:
            failures["hook"] -= 1
            raise RuntimeError("killed between the commits (fake)")

    loop, source, _ = sink_of(events("o1"), events("o2"), between_commits=between_commits)
    source.fail_commits = 1
    for _ in range(2):  # first the hook fails, then the commit
        with pytest.raises((RuntimeError, ConnectionError)):
            await loop.step()
    assert await loop.step() == 1
    assert source.log == [
        ("fetch", 500, 200),
        ("apply", ("o1",)),
        ("apply", ("o1",)),
        ("apply", ("o1",)),
        ("commit",),
    ]


async def test_an_empty_fetch_commits_and_returns_zero() -> None:
    hooked: list[str] = []

    async def between_commits(batch: list[dict]) -> None:
        hooked.append("hook")

    loop, source, _ = sink_of(between_commits=between_commits)
    assert await loop.step() == 0
    assert source.log == [("fetch", 500, 200), ("commit",)]
    assert hooked == []
    assert await loop.step() == 0
    assert source.log[2:] == [("fetch", 500, 200), ("commit",)]  # fetches afresh


async def test_rows_the_store_refuses_are_settled_counted_and_kept_from_the_hook() -> None:
    # A row MySQL refuses as data would be refused on every retry: the batch is settled
    # (its offsets commit) rather than pending for good with every order behind it.
    hooked: list[tuple] = []

    async def between_commits(batch: list[dict]) -> None:
        hooked.append(tuple(e["order_id"] for e in batch))

    loop, source, store = sink_of(
        events("o1", "bad", "o2"), events("o3"), between_commits=between_commits
    )
    store.refuse = {"bad"}
    assert await loop.step() == 2
    assert source.log == [("fetch", 500, 200), ("apply", ("o1", "bad", "o2")), ("commit",)]
    assert hooked == [("o1", "o2")]
    assert loop.refused == 1
    assert await loop.step() == 1  # the next batch as ever
    assert loop.refused == 1


async def test_a_batch_refused_whole_commits_without_the_hook() -> None:
    hooked: list[str] = []

    async def between_commits(batch: list[dict]) -> None:
        hooked.append("hook")

    loop, source, store = sink_of(events("bad"), between_commits=between_commits)
    store.refuse = {"bad"}
    assert await loop.step() == 0
    assert source.log == [("fetch", 500, 200), ("apply", ("bad",)), ("commit",)]
    assert hooked == [] and loop.refused == 1


async def test_refused_rows_count_once_though_the_commit_fails_and_the_batch_is_applied_again() -> (
    None
):
    loop, source, store = sink_of(events("o1", "bad"))
    store.refuse = {"bad"}
    source.fail_commits = 1
    with pytest.raises(ConnectionError):
        await loop.step()
    assert loop.refused == 0  # not settled yet: its offsets did not commit
    assert await loop.step() == 1
    assert loop.refused == 1 and loop.settled == 2
