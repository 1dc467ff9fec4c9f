"""CallBatcher: what arrives while a call is out leaves together as the next call."""

import asyncio

import pytest

from serve_app.batcher import CallBatcher


class Backend:
    """A send function whose calls the test answers by hand."""

    def __init__(self) -> None:
        self.calls: list[list[int]] = []
        self.pending: list[asyncio.Future[list[int]]] = []

    async def send(self, batch: list[int]) -> list[int]:
        self.calls.append(batch)
        future: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        self.pending.append(future)
        return await future


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_what_arrives_in_one_turn_shares_a_call() -> None:
    backend = Backend()
    batcher = CallBatcher(backend.send, max_batch=100, in_flight=1)
    tasks = [asyncio.create_task(batcher.submit(i)) for i in range(5)]
    await settle()
    assert backend.calls == [[0, 1, 2, 3, 4]]
    backend.pending.pop().set_result([0, 10, 20, 30, 40])
    assert await asyncio.gather(*tasks) == [0, 10, 20, 30, 40]


async def test_arrivals_during_a_call_leave_together_when_it_returns() -> None:
    backend = Backend()
    batcher = CallBatcher(backend.send, max_batch=100, in_flight=1)
    first = asyncio.create_task(batcher.submit(1))
    await settle()
    later = [asyncio.create_task(batcher.submit(i)) for i in (2, 3, 4)]
    await settle()
    assert backend.calls == [[1]]  # one call out: the rest wait, no timer
    backend.pending.pop().set_result([10])
    await settle()
    assert await first == 10
    assert backend.calls == [[1], [2, 3, 4]]
    backend.pending.pop().set_result([20, 30, 40])
    assert await asyncio.gather(*later) == [20, 30, 40]
    assert batcher.calls_out == 0


async def test_batches_are_capped_and_in_flight_is_honoured() -> None:
    backend = Backend()
    batcher = CallBatcher(backend.send, max_batch=2, in_flight=2)
    tasks = [asyncio.create_task(batcher.submit(i)) for i in range(7)]
    await settle()
    assert backend.calls == [[0, 1], [2, 3]]
    assert batcher.calls_out == 2
    backend.pending.pop(0).set_result([0, 10])
    await settle()
    assert backend.calls[-1] == [4, 5]
    while backend.pending:
        batch = backend.calls[len(backend.calls) - len(backend.pending)]
        backend.pending.pop(0).set_result([x * 10 for x in batch])
        await settle()
    assert await asyncio.gather(*tasks) == [x * 10 for x in range(7)]


async def test_a_failed_call_fails_its_own_batch_only() -> None:
    backend = Backend()
    batcher = CallBatcher(backend.send, max_batch=100, in_flight=1)
    doomed = [asyncio.create_task(batcher.submit(i)) for i in (1, 2)]
    await settle()
    fine = asyncio.create_task(batcher.submit(3))
    await settle()
    backend.pending.pop().set_exception(TimeoutError("shard away"))
    await settle()
    for task in doomed:
        with pytest.raises(TimeoutError):
            await task
    backend.pending.pop().set_result([30])
    assert await fine == 30


async def test_a_short_answer_is_an_error_not_a_misdelivery() -> None:
    backend = Backend()
    batcher = CallBatcher(backend.send, max_batch=100, in_flight=1)
    tasks = [asyncio.create_task(batcher.submit(i)) for i in (1, 2)]
    await settle()
    backend.pending.pop().set_result([10])
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)


async def test_a_caller_that_gave_up_does_not_hold_up_the_rest() -> None:
    backend = Backend()
    batcher = CallBatcher(backend.send, max_batch=100, in_flight=1)
    first = asyncio.create_task(batcher.submit(1))
    await settle()
    gone = asyncio.create_task(batcher.submit(2))
    kept = asyncio.create_task(batcher.submit(3))
    await settle()
    gone.cancel()
    backend.pending.pop().set_result([10])
    await settle()
    assert await first == 10
    assert backend.calls[-1] == [3]  # the cancelled request was not sent
    backend.pending.pop().set_result([30])
    assert await kept == 30


def test_limits_must_be_positive() -> None:
    async def send(batch: list[int]) -> list[int]:
        return batch

    with pytest.raises(ValueError):
        CallBatcher(send, max_batch=0, in_flight=1)
    with pytest.raises(ValueError):
        CallBatcher(send, max_batch=1, in_flight=0)
