import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.domain.ledger import (
    Accepted,
    Counts,
    Ledger,
    NoTransaction,
    OrderStatus,
    Refusal,
    Refused,
)


def new_ledger(stock: int = 10, limit: int = 2) -> Ledger:
    ledger = Ledger("deal-1", 0, per_user_limit=limit, price_cents=500)
    ledger.begin()
    ledger.add_stock(stock)
    ledger.commit()
    return ledger


def reserve(
    ledger: Ledger, user: str, qty: int = 1, key: str | None = None, order: str | None = None
):
    ledger.begin()
    outcome = ledger.reserve(
        user_id=user,
        quantity=qty,
        key=key or f"k-{user}-{order}",
        order_id=order or f"o-{user}-{key}",
        now=100.0,
        pay_by=1000.0,
    )
    ledger.commit()
    return outcome


def in_txn(ledger: Ledger, fn, *args, **kwargs):
    ledger.begin()
    outcome = fn(*args, **kwargs)
    ledger.commit()
    return outcome


def test_reserve_moves_available_to_held_and_emits_created() -> None:
    ledger = new_ledger()
    ledger.begin()
    outcome = ledger.reserve(
        user_id="u1", quantity=2, key="a", order_id="o1", now=1.0, pay_by=901.0
    )
    changes = ledger.changes()
    ledger.commit()
    assert isinstance(outcome, Accepted) and not outcome.replayed
    assert ledger.counts() == Counts(stock=10, available=8, held=2, sold=0)
    assert [r.order_id for r in changes.reservations] == ["o1"]
    assert changes.events == [
        {
            "v": 1,
            "type": "created",
            "order_id": "o1",
            "deal_id": "deal-1",
            "user_id": "u1",
            "quantity": 2,
            "amount_cents": 1000,
            "status": "reserved",
            "created_at": 1.0,
            "pay_by": 901.0,
            "paid_at": None,
            "cancelled_at": None,
        }
    ]


def test_same_key_returns_the_first_order() -> None:
    ledger = new_ledger()
    first = reserve(ledger, "u1", key="a", order="o1")
    again = reserve(ledger, "u1", key="a", order="o2")
    assert isinstance(again, Accepted) and again.replayed
    assert again.reservation == first.reservation
    assert ledger.counts().held == 1


def test_same_key_other_quantity_is_refused() -> None:
    ledger = new_ledger()
    reserve(ledger, "u1", key="a", order="o1")
    assert reserve(ledger, "u1", qty=2, key="a", order="o2") == Refused(Refusal.KEY_REUSED)


def test_keys_are_per_user() -> None:
    ledger = new_ledger()
    reserve(ledger, "u1", key="a", order="o1")
    other = reserve(ledger, "u2", key="a", order="o2")
    assert isinstance(other, Accepted) and other.reservation.order_id == "o2"


def test_limit_counts_every_live_order_of_the_user() -> None:
    ledger = new_ledger(limit=2)
    reserve(ledger, "u1", key="a", order="o1")
    reserve(ledger, "u1", key="b", order="o2")
    assert reserve(ledger, "u1", key="c", order="o3") == Refused(Refusal.LIMIT_EXCEEDED)
    in_txn(ledger, ledger.release, "o1", now=5.0)
    assert isinstance(reserve(ledger, "u1", key="c", order="o3"), Accepted)


def test_quantity_above_the_limit_is_refused() -> None:
    assert reserve(new_ledger(limit=2), "u1", qty=3) == Refused(Refusal.LIMIT_EXCEEDED)


def test_sold_out_when_the_shard_is_short() -> None:
    ledger = new_ledger(stock=1)
    reserve(ledger, "u1", key="a", order="o1")
    assert reserve(ledger, "u2", key="a", order="o2") == Refused(Refusal.SOLD_OUT)


def test_pay_then_cancel_is_refused_and_pay_twice_is_fine() -> None:
    ledger = new_ledger()
    reserve(ledger, "u1", key="a", order="o1")
    paid = in_txn(ledger, ledger.confirm, "o1", now=2.0)
    assert isinstance(paid, Accepted) and paid.reservation.status is OrderStatus.PAID
    again = in_txn(ledger, ledger.confirm, "o1", now=3.0)
    assert isinstance(again, Accepted) and again.replayed and again.reservation.paid_at == 2.0
    assert in_txn(ledger, ledger.release, "o1", now=4.0) == Refused(Refusal.ORDER_PAID)
    assert ledger.counts() == Counts(stock=10, available=9, held=0, sold=1)


def test_cancel_returns_stock_and_pay_after_cancel_is_refused() -> None:
    ledger = new_ledger()
    reserve(ledger, "u1", qty=2, key="a", order="o1")
    cancelled = in_txn(ledger, ledger.release, "o1", now=2.0)
    assert isinstance(cancelled, Accepted) and cancelled.reservation.cancelled_at == 2.0
    assert in_txn(ledger, ledger.confirm, "o1", now=3.0) == Refused(Refusal.ORDER_CANCELLED)
    assert ledger.counts() == Counts(stock=10, available=10, held=0, sold=0)


def test_the_deadline_cancels_an_unpaid_order_once_it_is_due() -> None:
    ledger = new_ledger()
    reserve(ledger, "u1", qty=2, key="a", order="o1")  # pay_by 1000
    assert in_txn(ledger, ledger.expire, "o1", now=999.9) == Refused(Refusal.NOT_DUE)
    expired = in_txn(ledger, ledger.expire, "o1", now=1000.0)
    assert isinstance(expired, Accepted) and expired.reservation.status is OrderStatus.CANCELLED
    again = in_txn(ledger, ledger.expire, "o1", now=1001.0)  # a timer fired twice
    assert isinstance(again, Accepted) and again.replayed
    assert ledger.counts() == Counts(stock=10, available=10, held=0, sold=0)


def test_paying_at_the_deadline_cancels_instead() -> None:
    ledger = new_ledger()
    reserve(ledger, "u1", key="a", order="o1")
    ledger.begin()
    assert ledger.confirm("o1", now=1000.0) == Refused(Refusal.ORDER_CANCELLED)
    assert [e["type"] for e in ledger.changes().events] == ["cancelled"]
    ledger.commit()
    assert ledger.order("o1").status is OrderStatus.CANCELLED
    assert ledger.counts() == Counts(stock=10, available=10, held=0, sold=0)


def test_a_paid_order_never_expires() -> None:
    ledger = new_ledger()
    reserve(ledger, "u1", key="a", order="o1")
    assert isinstance(in_txn(ledger, ledger.confirm, "o1", now=999.0), Accepted)
    assert in_txn(ledger, ledger.expire, "o1", now=2000.0) == Refused(Refusal.ORDER_PAID)
    assert ledger.counts() == Counts(stock=10, available=9, held=0, sold=1)


def test_unknown_order() -> None:
    ledger = new_ledger()
    assert in_txn(ledger, ledger.confirm, "nope", now=1.0) == Refused(Refusal.UNKNOWN_ORDER)
    assert in_txn(ledger, ledger.release, "nope", now=1.0) == Refused(Refusal.UNKNOWN_ORDER)


def test_rollback_undoes_everything_in_the_transaction() -> None:
    ledger = new_ledger()
    reserve(ledger, "u1", key="a", order="o1")
    before = (ledger.counts(), sorted(map(repr, ledger.reservations())))
    ledger.begin()
    ledger.reserve(user_id="u2", quantity=2, key="b", order_id="o2", now=1.0, pay_by=2.0)
    ledger.confirm("o1", now=1.0)
    ledger.give_back(3)
    ledger.rollback()
    assert (ledger.counts(), sorted(map(repr, ledger.reservations()))) == before
    assert ledger.user_quantity("u2") == 0
    assert ledger.violations() == []


def test_pool_moves_are_recorded() -> None:
    ledger = new_ledger(stock=5)
    ledger.begin()
    assert ledger.give_back(7) == 5
    assert ledger.changes().pool_delta == 5
    ledger.commit()
    assert ledger.counts() == Counts(0, 0, 0, 0)


def test_commands_need_a_transaction() -> None:
    ledger = new_ledger()
    with pytest.raises(NoTransaction):
        ledger.reserve(user_id="u", quantity=1, key="k", order_id="o", now=0, pay_by=1)


def test_restore_rebuilds_users_and_keys_from_reservations() -> None:
    ledger = new_ledger()
    reserve(ledger, "u1", key="a", order="o1")
    reserve(ledger, "u1", key="b", order="o2")
    in_txn(ledger, ledger.release, "o2", now=1.0)
    copy = Ledger.restore("deal-1", 0, 2, 500, ledger.counts(), ledger.reservations())
    assert copy.user_quantity("u1") == 1
    replay = reserve(copy, "u1", key="a", order="o9")
    assert isinstance(replay, Accepted) and replay.reservation.order_id == "o1"
    assert copy.violations() == []


# -- property: any sequence of commands, committed or rolled back, keeps the invariants --

USERS = st.sampled_from([f"u{i}" for i in range(6)])
command = st.one_of(
    st.tuples(st.just("reserve"), USERS, st.integers(1, 3), st.sampled_from("abcd")),
    st.tuples(st.just("confirm"), st.integers(0, 30), st.floats(0, 2000)),
    st.tuples(st.just("release"), st.integers(0, 30)),
    st.tuples(st.just("expire"), st.integers(0, 30), st.floats(0, 2000)),
    st.tuples(st.just("add"), st.integers(0, 5)),
    st.tuples(st.just("give"), st.integers(0, 5)),
)


@settings(max_examples=300, deadline=None)
@given(
    initial=st.integers(0, 20),
    limit=st.integers(1, 4),
    batches=st.lists(st.tuples(st.lists(command, max_size=6), st.booleans()), max_size=25),
)
def test_any_sequence_keeps_the_invariants(initial: int, limit: int, batches) -> None:
    ledger = new_ledger(stock=initial, limit=limit)
    pool = 0
    next_order = 0
    for commands, commit in batches:
        snapshot = (ledger.counts(), sorted(map(repr, ledger.reservations())))
        ledger.begin()
        for cmd in commands:
            if cmd[0] == "reserve":
                _, user, qty, key = cmd
                ledger.reserve(
                    user_id=user,
                    quantity=qty,
                    key=key,
                    order_id=f"o{next_order}",
                    now=float(next_order),
                    pay_by=next_order + 900.0,
                )
                next_order += 1
            elif cmd[0] == "confirm":
                ledger.confirm(f"o{cmd[1]}", now=cmd[2])
            elif cmd[0] == "expire":
                ledger.expire(f"o{cmd[1]}", now=cmd[2])
            elif cmd[0] == "release":
                ledger.release(f"o{cmd[1]}", now=1.0)
            elif cmd[0] == "add":
                ledger.add_stock(cmd[1])
            else:
                ledger.give_back(cmd[1])
        delta = ledger.changes().pool_delta
        if commit:
            ledger.commit()
            pool += delta
        else:
            ledger.rollback()
            assert (ledger.counts(), sorted(map(repr, ledger.reservations()))) == snapshot
        assert ledger.violations() == []
        # Units only move between the shard and the pool: none appear or vanish.
        assert ledger.counts().stock + pool == initial
        restored = Ledger.restore("deal-1", 0, limit, 500, ledger.counts(), ledger.reservations())
        assert restored.violations() == []
