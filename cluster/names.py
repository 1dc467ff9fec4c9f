"""Names of Ray objects, in one place so actors, routes, tools and tests agree."""

NAMESPACE = "flashsale"
SERVE_APP = "flashsale"
INGRESS_DEPLOYMENT = "Storefront"
ORDER_PUBLISHER = "order-publisher"
ORDER_SINK = "order-sink"
DEAL_CLOCK = "deal-clock"
# The Ray resource a node offers where flashsale's replicas and actors may run: worker
# nodes (the head too when it is the only node). Each of them asks for a sliver of it.
WORKER_RESOURCE = "flashsale_worker"
WORKER_SLIVER = {WORKER_RESOURCE: 0.001}


def stock_shard(deal_id: str, shard: int) -> str:
    return f"stock:{deal_id}:{shard}"
