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


def order_index(deal_id: str) -> str:
    """order id -> shard, for the deal's orders."""
    return f"fs:{{{deal_id}}}:orders"
