"""The audit's rules over hand-made facts: a clean deal passes, each break is named."""

from dataclasses import replace

from actors.domain.audit import DealFacts, OrderRow, ShardFacts, audit
from actors.domain.ledger import Counts, OrderStatus, Reservation

NOW = 10_000.0


def order(oid: str, user: str, status: OrderStatus, qty: int = 1, key: str = "k") -> Reservation:
    return Reservation(
        oid,
        user,
        qty,
        key,
        status,
        created_at=NOW - 100,
        pay_by=NOW + 100,
        paid_at=NOW - 50 if status is OrderStatus.PAID else None,
        cancelled_at=NOW - 50 if status is OrderStatus.CANCELLED else None,
    )


def row(r: Reservation) -> OrderRow:
    return OrderRow(
        r.order_id, r.user_id, r.quantity, r.status.value, r.pay_by, r.paid_at, r.cancelled_at
    )


def clean() -> DealFacts:
    orders = [
        order("o1", "u1", OrderStatus.RESERVED, 2),
        order("o2", "u2", OrderStatus.PAID),
        order("o3", "u3", OrderStatus.CANCELLED),
    ]
    return DealFacts(
        "d",
        stock=10,
        per_user_limit=2,
        pool=4,
        shards=[ShardFacts(0, Counts(6, 3, 2, 1), orders, live=Counts(6, 3, 2, 1))],
        answers={"k:u1": "o1", "k:u2": "o2", "k:u3": "o3"},
        deadlines={"o1"},
        rows=[row(r) for r in orders],
    )


def failing(facts: DealFacts) -> dict[str, list[str]]:
    return {k: v for k, v in audit([facts], NOW, grace_s=5).items() if v}


def test_a_consistent_deal_passes() -> None:
    assert failing(clean()) == {}


def test_i1_counts_that_do_not_add_up() -> None:
    facts = clean()
    assert "I1" in failing(replace(facts, pool=5))  # a unit appeared
    shard = replace(facts.shards[0], live=Counts(6, 2, 3, 1))  # the actor disagrees with Redis
    assert "I1" in failing(replace(facts, shards=[shard]))


def test_i2_a_user_above_the_limit() -> None:
    facts = clean()
    extra = order("o4", "u1", OrderStatus.PAID, key="k2")
    shard = replace(
        facts.shards[0],
        reservations=[*facts.shards[0].reservations, extra],
        counts=Counts(6, 2, 2, 2),
        live=None,
    )
    found = failing(
        replace(facts, shards=[shard], rows=[*facts.rows, row(extra)], pool=4, answers={})
    )
    assert list(found) == ["I2"] and "u1" in found["I2"][0]


def test_i3_missing_disagreeing_and_phantom_rows() -> None:
    facts = clean()
    rows = [facts.rows[0], replace(facts.rows[1], status="cancelled", paid_at=None)]
    rows.append(replace(facts.rows[2], order_id="ghost"))
    problems = failing(replace(facts, rows=rows))["I3"]
    assert any("o3" in p and "no MySQL row" in p for p in problems)
    assert any("o2" in p and "disagree" in p for p in problems)
    assert any("ghost" in p for p in problems)


def test_i4_overdue_untimed_and_late_payments() -> None:
    facts = clean()
    assert "I4" in failing(replace(facts, deadlines=set()))  # held with no timer
    paid = facts.shards[0].reservations[1]
    late_paid = replace(paid, paid_at=paid.pay_by + 1)
    shard = replace(facts.shards[0], reservations=[facts.shards[0].reservations[0], late_paid])
    assert any("o2" in p for p in audit([replace(facts, shards=[shard])], NOW, 5)["I4"])
    late = audit([facts], NOW + 200, grace_s=5)["I4"]  # o1 held past pay_by + grace
    assert late and "o1" in late[0]


def test_i5_a_key_with_two_orders() -> None:
    facts = clean()
    twin = replace(order("o5", "u1", OrderStatus.CANCELLED, 2), key="k")
    shard = replace(facts.shards[0], reservations=[*facts.shards[0].reservations, twin], live=None)
    found = failing(replace(facts, shards=[shard], rows=[*facts.rows, row(twin)]))
    assert list(found) == ["I5"]
