"""A Ray worker node lost mid-sale: the stack on three Ray nodes (the head and two
workers, ``make up NODES=3``), the node that holds the deal's shard SIGKILLed (its
raylet and everything under it) while buyers who retry with their key keep buying.
The shard and whatever else lived there come back on the surviving worker from their
checkpoints, purchases resume, and the audit is clean."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from cluster import names
from cluster.clients import ray_connect
from cluster.local import stack as local_stack
from cluster.local.ray_head import RayHead
from cluster.local.ray_workers import RayWorkerNode, placement
from cluster.settings import Settings
from tests.chaos.conftest import audit
from tests.chaos.shop import ABANDONED_CLIENT_SOCKETS, RetryingSale, buyers, until
from tests.e2e.api_client import create_deal

STOCK = 300


def _restart_ray(old: Settings, new: Settings) -> None:
    """Ray alone started anew with the new node count; the data services keep running."""
    import ray

    ray.shutdown()  # this process is a driver of the cluster about to be replaced
    RayHead(old).stop()  # `ray stop`: the worker nodes too
    local_stack.up(new)
    ray_connect(new)


@pytest.fixture(scope="module")
def three_nodes(drill: Settings) -> Iterator[Settings]:
    # A fresh head: one that ran alone offers the worker resource itself.
    changed = drill.model_copy(update={"ray_nodes": 3, "serve_replicas": 2})
    _restart_ray(drill, changed)
    yield changed
    _restart_ray(changed, drill)


def node_of(actor_name: str, settings: Settings) -> int | None:
    """The node index (0 head, n worker n) of a live actor, None while it is not alive."""
    import ray
    from ray.util.state import list_actors

    found = list_actors(
        address=settings.ray_address,
        filters=[("name", "=", actor_name), ("state", "=", "ALIVE")],
        limit=10,
    )
    if not found:
        return None
    agent = {n["NodeID"]: n["DashboardAgentListenPort"] for n in ray.nodes()}
    return agent[found[0]["node_id"]] - settings.ray_agent_port


def placed(settings: Settings) -> list[tuple[str, int | None]]:
    """Each live actor (named ones by name, Serve's replicas by deployment: a new one is
    named anew) and its node index; not Serve's proxies, which are one per node by
    design and do not move."""
    import ray
    from ray.util.state import list_actors

    agent = {n["NodeID"]: n["DashboardAgentListenPort"] for n in ray.nodes()}
    alive = list_actors(
        address=settings.ray_address, filters=[("state", "=", "ALIVE")], limit=10_000
    )
    found = []
    for a in alive:
        kind = a["class_name"]
        if "Proxy" in kind:
            continue
        port = agent.get(a["node_id"])
        node = None if port is None else port - settings.ray_agent_port
        found.append((kind if kind.startswith("ServeReplica") else a["name"] or kind, node))
    return found


def not_back(wanted: Counter[str], dead: int, settings: Settings) -> list[str]:
    """Those of ``wanted`` (how many of each) not yet all alive on nodes other than
    ``dead``."""
    elsewhere = Counter(what for what, node in placed(settings) if node not in (None, dead))
    return [what for what, n in wanted.items() if elsewhere[what] < n]


@ABANDONED_CLIENT_SOCKETS
@pytest.mark.timeout(600)
@pytest.mark.usefixtures("ray_driver")
async def test_a_worker_node_killed_mid_sale_loses_nothing(
    three_nodes: Settings, api: httpx.AsyncClient, admin_token: str
) -> None:
    deal = await create_deal(api, admin_token, stock=STOCK, limit=1)
    shard = names.stock_shard(deal["deal_id"], 0)
    sale = RetryingSale(three_nodes, deal["deal_id"], buyers(three_nodes, 450), give_up_s=300)
    selling = asyncio.create_task(sale.run())
    await sale.under_way(60)
    home = await asyncio.to_thread(node_of, shard, three_nodes)
    assert home is not None and home >= 1, f"premise: the shard lives on a worker ({home})"
    # `make status` says the same: the shard's row names its node.
    shown = await asyncio.to_thread(placement, three_nodes)
    rows = [row.split() for row in shown.splitlines()]
    assert any(row[:2] == ["worker", str(home)] and shard in row for row in rows), shown
    before_kill = dict(sale.acknowledged)
    everywhere = await asyncio.to_thread(placed, three_nodes)
    lost = {what for what, node in everywhere if node == home}
    # As many of each as lived anywhere: both replicas, not only the survivor.
    wanted = Counter(what for what, _ in everywhere if what in lost)

    killed_at = time.monotonic()
    await asyncio.to_thread(RayWorkerNode(three_nodes, home).kill)

    async def moved() -> bool:
        now = await asyncio.to_thread(node_of, shard, three_nodes)
        return now is not None and now != home

    await until(moved, 240, "the shard to come back on another node")
    moved_s = time.monotonic() - killed_at
    await sale.goes_on(selling, 120)
    resumed_s = time.monotonic() - killed_at
    await selling

    # Everything that lived on the lost node lives on a surviving one again: Serve
    # replaced its replicas, Ray restarted its actors.
    async def all_back() -> bool:
        return not await asyncio.to_thread(not_back, wanted, home, three_nodes)

    await until(all_back, 120, f"what lived on node {home} to come back elsewhere: {wanted}")
    print(
        f"\nworker node {home} SIGKILLed with {len(before_kill)} purchases acknowledged; "
        f"the shard alive on node {await asyncio.to_thread(node_of, shard, three_nodes)} "
        f"{moved_s:.1f} s later, purchases acknowledged again {resumed_s:.1f} s after the "
        f"kill; back elsewhere: {sorted(lost)}; buyers retried {dict(sale.retried)}; "
        f"{len(sale.expired)} orders could not "
        f"be paid before their {three_nodes.payment_timeout_s:.0f} s deadline and were "
        "cancelled, their units sold again"
    )
    sale.assert_sold_exactly(STOCK)
    await sale.assert_settled(api, admin_token, before_kill)
    await audit(three_nodes, deal["deal_id"])
