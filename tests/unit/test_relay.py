"""OutboxRelay over fakes: outbox order, acknowledge after publish, batches, at least once."""

import pytest

from actors.ports import OutboxEntry
from actors.services.relay import OutboxRelay


def entry(deal_id: str, n: int) -> OutboxEntry:
    return OutboxEntry(f"{deal_id}-{n}", f"order-{deal_id}-{n}", f'{{"n": {n}}}'.encode())


class FakeOutbox:
    """Per deal, a stream read from its head, and the marks of deals with events as
    the shards' checkpoints set them; ``log`` is shared with the publisher."""

    def __init__(self, log: list[tuple], **deals: int) -> None:
        self.log = log
        self.streams = {d: [entry(d, n) for n in range(count)] for d, count in deals.items()}
        self.marked = set(deals)
        self.fail_acks = 0
        self.takes = 0
        self.sweeps = 0  # counted apart from ``log``: the other tests read it whole

    def write_unmarked(self, deal_id: str, *entries: OutboxEntry) -> None:
        """As a shard of code older than the marks wrote."""
        self.streams.setdefault(deal_id, []).extend(entries)

    async def sweep(self) -> int:
        self.sweeps += 1
        found = {d for d, stream in self.streams.items() if stream} - self.marked
        self.marked |= found
        return len(found)

    def write(self, deal_id: str, *entries: OutboxEntry) -> None:
        self.streams.setdefault(deal_id, []).extend(entries)
        self.marked.add(deal_id)

    def ids(self, deal_id: str) -> list[str]:
        return [e.entry_id for e in self.streams[deal_id]]

    async def take(self, limit: int, total: int) -> dict[str, list[OutboxEntry]]:
        """As the adapter's script: each take starts one deal further along."""
        marked = sorted(self.marked)
        start = self.takes % len(marked) if marked else 0
        self.takes += 1
        taken, room = {}, total
        for deal_id in marked[start:] + marked[:start]:
            if room <= 0:
                break
            if self.streams[deal_id]:
                taken[deal_id] = self.streams[deal_id][: min(limit, room)]
                room -= len(taken[deal_id])
            else:
                self.marked.discard(deal_id)  # found empty: unmarked in the same step
        self.log.append(("take", limit, {d: len(es) for d, es in taken.items()}))
        return taken

    async def acknowledge(self, through: dict[str, str]) -> None:
        if self.fail_acks:
            self.fail_acks -= 1
            raise ConnectionError("redis away (fake)")
        self.log.append(("ack", dict(through)))
        for deal_id, last in through.items():
            # The head up to ``last``, as the adapter trims it.
            self.streams[deal_id] = self.streams[deal_id][self.ids(deal_id).index(last) + 1 :]
            if not self.streams[deal_id]:
                self.marked.discard(deal_id)


class FakePublisher:
    def __init__(self, log: list[tuple]) -> None:
        self.log = log
        self.batches: list[list[str]] = []
        self.fail_on: set[int] = set()  # the numbers (from 1) of the calls that fail
        self.calls = 0

    async def publish(self, entries: list[OutboxEntry]) -> None:
        self.calls += 1
        if self.calls in self.fail_on:
            raise ConnectionError("kafka away (fake)")
        ids = [e.entry_id for e in entries]
        self.batches.append(ids)
        self.log.append(("publish", tuple(ids)))

    def sent(self) -> list[str]:
        return [i for batch in self.batches for i in batch]


def relay_of(
    batch: int = 500, sweep_every: int = 600, take: int = 5000, **deals: int
) -> tuple[OutboxRelay, FakeOutbox, FakePublisher]:
    log: list[tuple] = []
    outbox, publisher = FakeOutbox(log, **deals), FakePublisher(log)
    return OutboxRelay(outbox, publisher, batch, sweep_every, take), outbox, publisher


async def test_events_of_several_deals_go_out_in_outbox_order() -> None:
    relay, outbox, publisher = relay_of(batch=2, a=3, b=2, c=1)
    assert await relay.drain_once() == 6
    for deal_id, count in (("a", 3), ("b", 2), ("c", 1)):
        assert [i for i in publisher.sent() if i[0] == deal_id] == [
            f"{deal_id}-{n}" for n in range(count)
        ]
    assert all(not stream for stream in outbox.streams.values())


async def test_every_deal_goes_in_one_publish_and_is_acknowledged_after_it() -> None:
    relay, outbox, _ = relay_of(batch=2, a=3, b=1)
    await relay.drain_once()
    assert outbox.log == [
        ("take", 2, {"a": 2, "b": 1}),
        ("publish", ("a-0", "a-1", "b-0")),
        ("ack", {"a": "a-1", "b": "b-0"}),
        ("take", 2, {"a": 1}),  # a's read was full: there may be more
        ("publish", ("a-2",)),
        ("ack", {"a": "a-2"}),  # short reads only: drained, no take after it
    ]


async def test_a_failing_publisher_leaves_the_outbox_whole_and_the_next_drain_resends() -> None:
    relay, outbox, publisher = relay_of(a=2, b=1)
    publisher.fail_on = {1}
    with pytest.raises(ConnectionError):
        await relay.drain_once()
    assert outbox.ids("a") == ["a-0", "a-1"] and outbox.ids("b") == ["b-0"]
    assert not any(step[0] == "ack" for step in outbox.log)

    assert await relay.drain_once() == 3
    assert sorted(publisher.sent()) == ["a-0", "a-1", "b-0"]
    assert outbox.ids("a") == [] and outbox.ids("b") == []


async def test_a_failure_midway_keeps_only_what_was_not_acknowledged() -> None:
    relay, outbox, publisher = relay_of(batch=2, a=3, b=1)
    publisher.fail_on = {2}  # the second round of takes: a's third event
    with pytest.raises(ConnectionError):
        await relay.drain_once()
    assert outbox.ids("a") == ["a-2"] and outbox.ids("b") == []

    assert await relay.drain_once() == 1
    assert publisher.sent() == ["a-0", "a-1", "b-0", "a-2"]


async def test_a_lost_acknowledgement_sends_the_same_entries_again() -> None:
    relay, outbox, publisher = relay_of(a=2)
    outbox.fail_acks = 1
    with pytest.raises(ConnectionError):
        await relay.drain_once()
    assert outbox.ids("a") == ["a-0", "a-1"]

    assert await relay.drain_once() == 2
    assert publisher.batches == [["a-0", "a-1"], ["a-0", "a-1"]]  # at least once: a copy
    assert outbox.ids("a") == []


async def test_entries_go_in_batches_of_the_batch_size() -> None:
    relay, outbox, publisher = relay_of(batch=2, a=5)
    assert await relay.drain_once() == 5
    assert publisher.batches == [["a-0", "a-1"], ["a-2", "a-3"], ["a-4"]]
    assert {step[1] for step in outbox.log if step[0] == "take"} == {2}


@pytest.mark.parametrize(
    ("count", "takes"),
    [
        (3, [2, 1]),  # a short read: the deal is drained, no take after it
        (4, [2, 2, 0]),  # a full read: there may be more, take again
        (0, [0]),
    ],
)
async def test_a_short_read_ends_the_round(count: int, takes: list[int]) -> None:
    relay, outbox, publisher = relay_of(batch=2, a=count)
    assert await relay.drain_once() == count
    assert [sum(step[2].values()) for step in outbox.log if step[0] == "take"] == takes
    assert publisher.sent() == [f"a-{n}" for n in range(count)]


async def test_an_empty_outbox_publishes_nothing_and_is_unmarked() -> None:
    relay, outbox, publisher = relay_of(a=0, b=0)
    assert await relay.drain_once() == 0
    assert publisher.calls == 0
    assert [step[0] for step in outbox.log] == ["take"]
    assert outbox.marked == set()


async def test_a_drained_deal_is_read_again_only_once_it_has_events() -> None:
    relay, outbox, publisher = relay_of(batch=2, a=3, b=1)
    assert await relay.drain_once() == 4
    assert outbox.marked == set()  # both drained: the next rounds read nothing
    outbox.log.clear()
    assert await relay.drain_once() == 0
    assert outbox.log == [("take", 2, {})]
    outbox.write("b", entry("b", 7))
    assert await relay.drain_once() == 1
    assert [step[2] for step in outbox.log if step[0] == "take"][1] == {"b": 1}
    assert publisher.sent()[-1] == "b-7"


async def test_a_deal_that_got_events_while_it_drained_stays_marked() -> None:
    relay, outbox, publisher = relay_of(batch=5, a=2)
    real_ack = outbox.acknowledge

    async def ack_then_a_shard_writes(through: dict[str, str]) -> None:
        await real_ack(through)
        outbox.write("a", entry("a", 9))  # after the read, before the next round

    outbox.acknowledge = ack_then_a_shard_writes  # type: ignore[method-assign]
    assert await relay.drain_once() == 2
    assert outbox.marked == {"a"}
    outbox.acknowledge = real_ack  # type: ignore[method-assign]
    assert await relay.drain_once() == 1
    assert publisher.sent() == ["a-0", "a-1", "a-9"]


async def test_the_count_is_of_this_drain_only() -> None:
    relay, outbox, _ = relay_of(batch=3, a=4)
    assert await relay.drain_once() == 4
    outbox.write("a", entry("a", 10))
    assert await relay.drain_once() == 1
    assert await relay.drain_once() == 0


async def test_events_no_mark_points_at_are_found_by_the_first_round_and_sent() -> None:
    relay, outbox, publisher = relay_of()
    outbox.write_unmarked("old", entry("old", 0), entry("old", 1))
    assert await relay.drain_once() == 2
    assert publisher.sent() == ["old-0", "old-1"]
    assert outbox.marked == set()  # drained and settled like any other


async def test_the_sweep_comes_again_only_after_its_rounds() -> None:
    relay, outbox, publisher = relay_of(sweep_every=3)
    for _ in range(3):
        await relay.drain_once()
    assert outbox.sweeps == 1
    outbox.write_unmarked("old", entry("old", 0))
    assert await relay.drain_once() == 1  # the fourth round sweeps again
    assert outbox.sweeps == 2
    assert publisher.sent() == ["old-0"]


async def test_a_backlog_goes_in_takes_bounded_in_all_and_no_deal_waits_behind_others() -> None:
    relay, outbox, publisher = relay_of(batch=4, take=5, a=6, b=6, c=6)
    assert await relay.drain_once() == 18
    takes = [step[2] for step in outbox.log if step[0] == "take"]
    assert all(sum(t.values()) <= 5 for t in takes)
    assert list(takes[0]) == ["a", "b"] and next(iter(takes[1])) == "b"  # one further along
    for deal_id in "abc":  # each deal's events still in order
        assert [i for i in publisher.sent() if i[0] == deal_id] == [
            f"{deal_id}-{n}" for n in range(6)
        ]
    assert outbox.marked == set()
