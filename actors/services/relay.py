"""The outbox relay: moves order events from the shards' Redis outboxes to Kafka.

At least once, never lost: an entry leaves the outbox only after Kafka acknowledged it
(``acks=all``, idempotent producer). A crash between the two re-sends it; the sink's
idempotent writes absorb the copy. Within a deal the outbox is read in order, and the
events of one order share a Kafka key, so they reach one partition in order.

No Ray here (actors/relay_actor.py wraps it): it is driven by ``drain_once`` in tests.
"""

from __future__ import annotations

import logging

from actors.ports import EventPublisher, Outbox

logger = logging.getLogger("flashsale.relay")


class OutboxRelay:
    def __init__(
        self,
        outbox: Outbox,
        publisher: EventPublisher,
        batch: int = 500,
        sweep_every: int = 600,
    ) -> None:
        """``sweep_every``: rounds between two sweeps of every known deal's outbox for
        events no mark points at (the first round sweeps too: a relay starts after an
        upgrade); at the relay's 50 ms rounds, every 30 s."""
        self._outbox = outbox
        self._publisher = publisher
        self._batch = batch
        self._sweep_every = sweep_every
        self._rounds = 0

    async def drain_once(self) -> int:
        """Send what every outbox holds now; return how many events went to Kafka."""
        if self._rounds % self._sweep_every == 0:
            marked = await self._outbox.sweep()
            if marked:
                logger.warning("%d outboxes held events with no mark; marked now", marked)
        self._rounds += 1
        sent = 0
        for deal_id in await self._outbox.deals():
            while True:
                entries = await self._outbox.read(deal_id, self._batch)
                if entries:
                    await self._publisher.publish(entries)
                    # Settles the deal too if that emptied its outbox.
                    await self._outbox.acknowledge(deal_id, [e.entry_id for e in entries])
                    sent += len(entries)
                else:
                    # Drained: the deal is read again once a shard writes to it.
                    await self._outbox.settle(deal_id)
                if len(entries) < self._batch:
                    break
        return sent
