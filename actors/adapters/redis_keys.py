"""Every Redis key flashsale writes, in one place.

Keys of one deal share the hash tag ``{deal_id}``, so a checkpoint's multi-key script
stays within one slot if Redis is ever run as a cluster.
"""


def epoch(deal_id: str, shard: int) -> str:
    return f"fs:{{{deal_id}}}:epoch:{shard}"


def counts(deal_id: str, shard: int) -> str:
    return f"fs:{{{deal_id}}}:counts:{shard}"


def reservations(deal_id: str, shard: int) -> str:
    return f"fs:{{{deal_id}}}:res:{shard}"


def pool(deal_id: str) -> str:
    """Units of a deal that no shard holds: the first allocation and rebalancing go
    through it, in the same atomic script as the shard's checkpoint."""
    return f"fs:{{{deal_id}}}:pool"


def outbox(deal_id: str) -> str:
    """The deal's order events not yet acknowledged by Kafka (a stream)."""
    return f"fs:{{{deal_id}}}:outbox"


ORDER_INDEX = "fs:order-deal"
"""order id -> "deal_id:shard", so an order is found from its id alone. The one key a
checkpoint writes outside its deal's slot: a Redis Cluster would need it moved (e.g.
into the order id itself)."""

OUTBOXES = "fs:outboxes"
"""Set of the deals whose outbox may hold events: a checkpoint that writes events adds
its deal in the same script, and the relay removes a deal it found empty (in one script,
so that an event written meanwhile keeps it). The relay reads only these outboxes, so
its round costs the same with three deals on sale or three thousand. Like the order
index, a key outside the deal's slot."""

TIMERS = "fs:timers"
"""The DealClock's durable timers (sorted set: member = encoded timer, score = when,
epoch seconds). Shards add and remove order deadlines in their checkpoint script, so,
like ORDER_INDEX, a key outside the deal's slot."""

DEALS = "fs:deals"
"""Sorted set of the preheated deals' ids, scored by their end (epoch seconds)."""


def deal(deal_id: str) -> str:
    """The deal as the storefront shows it (JSON), cached at preheat."""
    return f"fs:{{{deal_id}}}:deal"


def answers(deal_id: str) -> str:
    """The first answer to each purchase, by (idempotency key, user): "order_id:pay_by".
    Lets a replica answer a repeated key itself once it knows the deal is sold out."""
    return f"fs:{{{deal_id}}}:answers"


def answer_field(user_id: str, key: str) -> str:
    return f"{key}:{user_id}"  # keys hold no ':', so this cannot be ambiguous


def parse_answer(raw: bytes) -> tuple[str, float]:
    order_id, _, pay_by = raw.decode().partition(":")
    return order_id, float(pay_by)
