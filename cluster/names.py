"""Names of Ray objects, in one place so actors, routes, tools and tests agree."""

NAMESPACE = "flashsale"
SERVE_APP = "flashsale"
INGRESS_DEPLOYMENT = "Storefront"
ORDER_PUBLISHER = "order-publisher"
ORDER_SINK = "order-sink"
DEAL_CLOCK = "deal-clock"


def stock_shard(deal_id: str, shard: int) -> str:
    return f"stock:{deal_id}:{shard}"
