"""The values that cross Ray calls survive pickling whole, and cheaply."""

import pickle
from dataclasses import dataclass

import pytest
import ray.cloudpickle as cloudpickle

from actors.domain.ledger import Accepted, OrderStatus, Refusal, Refused, Reservation
from actors.domain.orders import ReserveRequest, ReserveResult
from actors.domain.wire import compact_pickle

RESERVATION = Reservation("o1", "u1", 2, "k1", OrderStatus.RESERVED, 100.0, 1000.0)
VALUES = [
    ReserveRequest("u1", 2, "k1"),
    ReserveResult(Accepted(RESERVATION, replayed=True)),
    ReserveResult(Refused(Refusal.SOLD_OUT), deal_sold_out=True, uncertain=False),
    ReserveResult(Refused(Refusal.LIMIT_EXCEEDED), uncertain=True),
    RESERVATION,
    Reservation("o2", "u2", 1, "k2", OrderStatus.PAID, 1.0, 2.0, paid_at=1.5),
    Reservation("o3", "u3", 1, "k3", OrderStatus.CANCELLED, 1.0, 2.0, cancelled_at=2.0),
]


@pytest.mark.parametrize("dumps", [pickle.dumps, cloudpickle.dumps])
@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_round_trip_is_equal_and_typed(value: object, dumps: object) -> None:
    back = pickle.loads(dumps(value))  # type: ignore[operator]
    assert back == value
    assert type(back) is type(value)


def test_reduces_to_the_constructor_and_field_values() -> None:
    # Not Python-level __getstate__: the C pickler does the work.
    assert ReserveRequest("u", 1, "k").__reduce__() == (ReserveRequest, ("u", 1, "k"))
    assert Refused(Refusal.SOLD_OUT).__reduce__() == (Refused, (Refusal.SOLD_OUT,))


def test_refuses_a_class_without_slots() -> None:
    @dataclass(frozen=True)
    class Plain:
        x: int

    with pytest.raises(TypeError):
        compact_pickle(Plain)
