"""Order events carry exactly the fields the sink reads and writes."""

from actors.domain import events
from actors.domain.ledger import OrderStatus, Reservation


def test_an_event_is_the_version_its_type_and_the_whole_order() -> None:
    r = Reservation("o1", "u1", 2, "k", OrderStatus.PAID, 10.0, 910.0, paid_at=20.0)
    event = events.order_event(events.PAID, "d1", r, price_cents=150)
    assert set(event) == {"v", "type", *events.ORDER_FIELDS}
    assert events.TIME_FIELDS <= set(events.ORDER_FIELDS)
    assert (event["v"], event["type"], event["amount_cents"]) == (events.VERSION, "paid", 300)
    assert [event[f] for f in ("created_at", "pay_by", "paid_at", "cancelled_at")] == [
        10.0,
        910.0,
        20.0,
        None,
    ]
