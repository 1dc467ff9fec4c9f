"""The audit's rules: invariants I1-I5 of docs/design.md over facts gathered elsewhere.

Pure: the facts (each shard's checkpoint and, when it runs, its live counts; the deal's
pool, first answers and pending deadlines in Redis; its rows in MySQL) are collected by
ops/audit.py. Each check returns problems naming the offending ids; none = ok.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from actors.domain.ledger import Counts, OrderStatus, Reservation

INVARIANTS = ("I1", "I2", "I3", "I4", "I5")


@dataclass(frozen=True, slots=True)
class ShardFacts:
    shard: int
    counts: Counts | None  # the checkpoint; None: never written
    reservations: list[Reservation]
    live: Counts | None = None  # from the running actor, if it runs


@dataclass(frozen=True, slots=True)
class OrderRow:
    """An order as MySQL holds it."""

    order_id: str
    user_id: str
    quantity: int
    status: str
    pay_by: float
    paid_at: float | None
    cancelled_at: float | None


@dataclass(frozen=True, slots=True)
class DealFacts:
    deal_id: str
    stock: int
    per_user_limit: int
    pool: int | None  # None: never preheated
    shards: list[ShardFacts]
    answers: dict[str, str] = field(default_factory=dict)  # "key:user" -> order id
    deadlines: set[str] = field(default_factory=set)  # order ids with a pending timer
    rows: list[OrderRow] = field(default_factory=list)

    def reservations(self) -> list[Reservation]:
        return [r for s in self.shards for r in s.reservations]


def audit(deals: list[DealFacts], now: float, grace_s: float) -> dict[str, list[str]]:
    """Problems per invariant. ``grace_s``: how late a deadline may fire or a row land."""
    found: dict[str, list[str]] = {name: [] for name in INVARIANTS}
    for deal in deals:
        found["I1"] += [f"deal {deal.deal_id}: {p}" for p in _stock(deal)]
        found["I2"] += [f"deal {deal.deal_id}: {p}" for p in _limits(deal)]
        found["I3"] += [f"deal {deal.deal_id}: {p}" for p in _recorded(deal)]
        found["I4"] += [f"deal {deal.deal_id}: {p}" for p in _deadlines(deal, now, grace_s)]
        found["I5"] += [f"deal {deal.deal_id}: {p}" for p in _idempotency(deal)]
    return found


def _listed(what: str, ids: Iterable[str]) -> list[str]:
    """One problem naming the offending ids (the first 20), or none."""
    found = sorted(ids)
    return [f"{len(found)} {what}: {found[:20]}"] if found else []


def _stock(deal: DealFacts) -> list[str]:
    problems = []
    in_shards = 0
    for s in deal.shards:
        if s.counts is None:
            if s.reservations:
                problems.append(f"shard {s.shard} has orders but no counts")
            continue
        c = s.counts
        in_shards += c.stock
        if min(c.stock, c.available, c.held, c.sold) < 0:
            problems.append(f"shard {s.shard} has a negative count: {c}")
        if c.available + c.held + c.sold != c.stock:
            problems.append(f"shard {s.shard}: available + held + sold != stock: {c}")
        by_status = Counter[OrderStatus]()
        for r in s.reservations:
            by_status[r.status] += r.quantity
        if (by_status[OrderStatus.RESERVED], by_status[OrderStatus.PAID]) != (c.held, c.sold):
            problems.append(
                f"shard {s.shard}: held/sold {c.held}/{c.sold} but its orders hold"
                f" {by_status[OrderStatus.RESERVED]}/{by_status[OrderStatus.PAID]}"
            )
        if s.live is not None and s.live != c:
            problems.append(f"shard {s.shard}: the running actor has {s.live}, Redis {c}")
    if deal.pool is not None:
        if deal.pool < 0:
            problems.append(f"the pool is negative: {deal.pool}")
        if deal.pool + in_shards != deal.stock:
            problems.append(f"pool {deal.pool} + shards {in_shards} != stock {deal.stock}")
    elif deal.reservations():
        problems.append("orders exist but the deal was never preheated")
    live_rows = sum(r.quantity for r in deal.rows if r.status != "cancelled")
    if live_rows > deal.stock:
        problems.append(f"MySQL holds {live_rows} paid or pending units of {deal.stock}")
    return problems


def _limits(deal: DealFacts) -> list[str]:
    problems = []
    for source, orders in (
        ("Redis", [(r.user_id, r.quantity, r.status.value) for r in deal.reservations()]),
        ("MySQL", [(r.user_id, r.quantity, r.status) for r in deal.rows]),
    ):
        per_user: dict[str, int] = defaultdict(int)
        for user, quantity, status in orders:
            if status != "cancelled":
                per_user[user] += quantity
        over = sorted(u for u, q in per_user.items() if q > deal.per_user_limit)
        if over:
            problems.append(f"{source}: users above the limit {deal.per_user_limit}: {over}")
    return problems


def _recorded(deal: DealFacts) -> list[str]:
    rows = {r.order_id: r for r in deal.rows}
    missing, wrong = [], []
    for r in deal.reservations():
        row = rows.get(r.order_id)
        if row is None:
            missing.append(r.order_id)
        elif (row.status, row.quantity, row.user_id) != (r.status.value, r.quantity, r.user_id):
            wrong.append(f"{r.order_id} ({row.status} in MySQL, {r.status.value} in the shard)")
    known = {r.order_id for r in deal.reservations()}
    phantoms = [o for o in rows if o not in known]
    return (
        _listed("orders have no MySQL row", missing)
        + _listed("MySQL rows disagree with their shard", wrong)
        + _listed("MySQL rows no shard knows", phantoms)
    )


def _deadlines(deal: DealFacts, now: float, grace_s: float) -> list[str]:
    overdue, lost, late_paid, both = [], [], [], []
    for r in deal.reservations():
        if r.status is OrderStatus.RESERVED:
            if r.pay_by + grace_s < now:
                overdue.append(r.order_id)
            if r.order_id not in deal.deadlines:
                lost.append(r.order_id)
        if r.status is OrderStatus.PAID and (r.paid_at is None or r.paid_at >= r.pay_by):
            late_paid.append(r.order_id)
        if r.paid_at is not None and r.cancelled_at is not None:
            both.append(r.order_id)
    for row in deal.rows:
        if row.paid_at is not None and row.cancelled_at is not None:
            both.append(row.order_id)
    return (
        _listed("unpaid past their deadline", overdue)
        + _listed("held with no deadline timer", lost)
        + _listed("paid at or after their deadline", late_paid)
        + _listed("both paid and cancelled", set(both))
    )


def _idempotency(deal: DealFacts) -> list[str]:
    problems = []
    by_key: dict[tuple[str, str], list[str]] = defaultdict(list)
    for r in deal.reservations():
        by_key[(r.user_id, r.key)].append(r.order_id)
    doubled = sorted(f"{k}:{u} -> {ids}" for (u, k), ids in by_key.items() if len(ids) > 1)
    if doubled:
        problems.append(f"keys with more than one order: {doubled[:20]}")
    orders = {r.order_id: r for r in deal.reservations()}
    wrong = []
    for answer_field, order_id in deal.answers.items():
        r = orders.get(order_id)
        if r is None or f"{r.key}:{r.user_id}" != answer_field:
            wrong.append(f"{answer_field} -> {order_id}")
    if wrong:
        problems.append(f"first answers that name another order: {sorted(wrong)[:20]}")
    return problems
