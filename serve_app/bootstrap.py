"""The composition root: one replica's use cases, wired once from its settings.

Routes and the fast path reach everything through ``Shop`` (on ``app.state.shop``); no
object here makes a network call when built, so the FastAPI app can be built in a unit
test without any service.
"""

from __future__ import annotations

from dataclasses import dataclass

from actors.adapters.clock import SystemClock
from actors.adapters.mysql_catalog import MysqlCatalog
from actors.adapters.redis_deals import RedisDeals
from actors.adapters.redis_timers import RedisTimers
from actors.gateway import ShardGateway
from actors.services.deal_lifecycle import DealLifecycle
from cluster.settings import Settings
from serve_app.auth import TokenVerifier
from serve_app.backends import Backends
from serve_app.metrics import PurchaseMetrics
from serve_app.payments import SimulatedPayments
from serve_app.rate_limits import RateLimits
from serve_app.services.accounts import Accounts
from serve_app.services.catalog import Catalog
from serve_app.services.orders import Orders
from serve_app.services.purchase import Purchaser, PurchaseService
from serve_app.services.sold_out import SoldOutBoard


@dataclass(frozen=True, slots=True)
class Shop:
    settings: Settings
    backends: Backends
    tokens: TokenVerifier
    catalog: Catalog
    purchases: PurchaseService
    orders: Orders
    accounts: Accounts


def build_shop(settings: Settings, backends: Backends) -> Shop:
    deals = RedisDeals(backends.redis, call_timeout_s=settings.call_timeout_s)
    records = MysqlCatalog(backends)
    shards = ShardGateway(settings)
    lifecycle = DealLifecycle(
        deals,
        shards,
        RedisTimers(backends.redis),
        SystemClock(),
        preheat_lead_s=settings.preheat_lead_s,
        payment_timeout_s=settings.payment_timeout_s,
    )
    catalog = Catalog(
        records,
        deals,
        lifecycle,
        shards,
        shards_per_deal=settings.shards_per_deal,
        preheat_lead_s=settings.preheat_lead_s,
    )
    metrics = PurchaseMetrics()
    purchases = PurchaseService(
        catalog,
        lifecycle,
        Purchaser(shards, settings, metrics),
        SoldOutBoard(deals),
        RateLimits(settings),
        metrics,
    )
    return Shop(
        settings=settings,
        backends=backends,
        tokens=TokenVerifier(settings.jwt_secret),
        catalog=catalog,
        purchases=purchases,
        orders=Orders(deals, catalog, shards, SimulatedPayments()),
        accounts=Accounts(records, settings.jwt_secret, settings.jwt_ttl_s),
    )
