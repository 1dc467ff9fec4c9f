"""Natural batching: requests that arrive while a call is out leave together as the next.

One ``CallBatcher`` per stock shard in each replica. A request goes out at once when
fewer than ``in_flight`` calls are out (after one turn of the event loop, so the
requests a replica parsed in the same turn share it); otherwise it queues, and the
queue leaves as one call the moment a call comes back. There is no timer: at low load
a purchase waits for nobody, under a burst the batches grow to what arrived during one
call, the way the shard's own group commit grows with its load.

Serve's ``@serve.batch`` does not fit here: it closes a batch on a timer or a size,
before a slot to send it is free, so either every purchase waits out the timer (5 ms,
even a lone buyer's) or, with no timer, batches of one queue behind the in-flight limit.
With this batcher a purchase at low load took half as long (p50 4.7 vs 9.7 ms at two
connections) and the 64-connection benchmark did no worse; see docs/design.md. No Ray
and no I/O here: ``send`` is given.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Req = TypeVar("Req")
Res = TypeVar("Res")


class CallBatcher(Generic[Req, Res]):
    def __init__(
        self,
        send: Callable[[list[Req]], Awaitable[Sequence[Res]]],
        *,
        max_batch: int,
        in_flight: int,
    ) -> None:
        """``send`` answers a batch with one result per request, in order, or raises:
        the exception then goes to every request of that batch and no other."""
        if max_batch < 1 or in_flight < 1:
            raise ValueError("max_batch and in_flight must be at least 1")
        self._send = send
        self._max = max_batch
        self._limit = in_flight
        self._queue: list[tuple[Req, asyncio.Future[Res]]] = []
        self._out = 0
        self._launch_pending = False
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def calls_out(self) -> int:
        return self._out

    async def submit(self, request: Req) -> Res:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Res] = loop.create_future()
        self._queue.append((request, future))
        if self._out + self._launch_pending < self._limit:
            self._launch_pending = True
            loop.call_soon(self._launch)
        return await future

    def _launch(self) -> None:
        self._launch_pending = False
        while self._queue and self._out < self._limit:
            batch, self._queue = self._queue[: self._max], self._queue[self._max :]
            batch = [(r, f) for r, f in batch if not f.cancelled()]
            if not batch:
                continue
            self._out += 1
            task = asyncio.get_running_loop().create_task(self._call(batch))
            self._tasks.add(task)  # the loop keeps only weak references to tasks
            task.add_done_callback(self._tasks.discard)

    async def _call(self, batch: list[tuple[Req, asyncio.Future[Res]]]) -> None:
        try:
            results = await self._send([r for r, _ in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"{len(results)} answers for a batch of {len(batch)}")
        except Exception as exc:  # noqa: BLE001 -- the batch's callers get it, not the loop
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
        else:
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
        finally:
            self._out -= 1
            self._launch()
