"""Request and response bodies. Unknown fields are refused; numbers must be numbers."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt

_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=False)


class Credentials(BaseModel):
    model_config = _STRICT
    username: str = Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    password: str = Field(min_length=8, max_length=128)


class UserCreated(BaseModel):
    user_id: str


class TokenOut(BaseModel):
    token: str
    expires_at: str


class ProductIn(BaseModel):
    model_config = _STRICT
    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=5000)
    image_url: str = Field("", max_length=1000, pattern=r"^(|https?://\S+|/\S*)$")


class ProductOut(BaseModel):
    product_id: str
    name: str
    description: str
    image_url: str


class DealIn(BaseModel):
    model_config = _STRICT
    product_id: str = Field(min_length=1, max_length=36)
    price_cents: StrictInt = Field(ge=0)
    stock: StrictInt = Field(ge=1, le=10_000_000)
    per_user_limit: StrictInt = Field(ge=1, le=1000)
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    # StockShard actors for this deal; FLASHSALE_SHARDS_PER_DEAL when not given. A deal
    # keeps it for life (buyers map to shards by a hash modulo it).
    shards: StrictInt | None = Field(None, ge=1, le=64)


class DealOut(BaseModel):
    deal_id: str
    product: ProductOut
    price_cents: int
    stock: int
    remaining: int
    per_user_limit: int
    starts_at: str
    ends_at: str
    status: str


class PurchaseIn(BaseModel):
    model_config = _STRICT
    quantity: StrictInt = Field(ge=1, le=1000)


class PurchaseOut(BaseModel):
    order_id: str
    status: str
    pay_by: str


class OrderOut(BaseModel):
    order_id: str
    deal_id: str
    quantity: int
    amount_cents: int
    status: str
    pay_by: str
    created_at: str


class ShardStats(BaseModel):
    shard: int
    available: int
    held: int
    sold: int


class DealStats(BaseModel):
    deal_id: str
    stock: int
    available: int
    held: int
    sold: int
    cancelled: int
    pool: int
    shards: list[ShardStats]
