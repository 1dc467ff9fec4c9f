"""The outbox relay: moves order events from the shards' Redis outboxes to Kafka.

At least once, never lost: an entry leaves the outbox only after Kafka acknowledged it
(``acks=all``, idempotent producer). A crash between the two re-sends it; the sink's
idempotent writes absorb the copy. Within a deal the outbox is read in order, and the
events of one order share a Kafka key, so they reach one partition in order. A round
costs a few round trips however many deals are on sale: one to take the outboxes'
heads, one publish, one acknowledgement (more only for a backlog past one take).

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
        take: int = 5000,
    ) -> None:
        """``batch``: events a deal, ``take``: events in all, per read of the outboxes.
        ``sweep_every``: rounds between two sweeps of every known deal's outbox for
        events no mark points at (the first round sweeps too: a relay starts after an
        upgrade)."""
        self._outbox = outbox
        self._publisher = publisher
        self._batch = batch
        self._take = take
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
        while True:
            taken = await self._outbox.take(self._batch, self._take)
            entries = [e for deal_entries in taken.values() for e in deal_entries]
            if not entries:
                return sent
            # Every deal's events in one publish: one produce request a round.
            await self._publisher.publish(entries)
            await self._outbox.acknowledge({d: es[-1].entry_id for d, es in taken.items()})
            sent += len(entries)
            if len(entries) < self._take and all(len(es) < self._batch for es in taken.values()):
                return sent  # every outbox drained as of its read
