"""Request and response bodies. Unknown fields are refused; numbers must be numbers."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

from actors.domain.deals import (
    MAX_PER_USER_LIMIT,
    MAX_PRICE_CENTS,
    MAX_QUANTITY,
    MAX_SHARDS,
    MAX_STOCK,
)

_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=False)


def whole_number(value: Any) -> int | None:
    """``value`` as an int if it is a JSON integer, else None. JSON Schema's ``integer``
    includes ``775.0`` (JSON has one number type, and JavaScript writes whole floats that
    way), so a whole float counts; ``true``, ``"2"`` and ``1.5`` do not."""
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    return None


def _whole(value: Any) -> int:
    found = whole_number(value)
    if found is None:
        raise ValueError("must be a JSON integer")
    return found


def _text_time(value: Any) -> Any:
    # Pydantic would read a number as seconds since 1970; the contract says ISO 8601.
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 string with a zone")
    return value


WholeInt = Annotated[int, BeforeValidator(_whole)]
IsoTime = Annotated[AwareDatetime, BeforeValidator(_text_time)]


class Credentials(BaseModel):
    model_config = _STRICT
    username: str = Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    password: str = Field(min_length=8, max_length=128)


class UserCreated(BaseModel):
    user_id: str


class TokenOut(BaseModel):
    token: str
    expires_at: str


_IMAGE_URL = (
    r"^(|https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[^\x00-\x20\x7f]*)?"
    r"|/([^/\x00-\x20\x7f][^\x00-\x20\x7f]*)?)$"
)


class ProductIn(BaseModel):
    model_config = _STRICT
    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=5000)
    # Empty, an http(s) URL with a plain host name, or a path on this site; the pattern
    # is the whole rule, so a client (or a fuzzer) can check it as we do. No IPv6
    # literals and no `//host` paths: the page puts this in an <img src>.
    image_url: str = Field("", max_length=1000, pattern=_IMAGE_URL)


class ProductOut(BaseModel):
    product_id: str
    name: str
    description: str
    image_url: str


class DealIn(BaseModel):
    model_config = _STRICT
    product_id: str = Field(min_length=1, max_length=36)
    price_cents: WholeInt = Field(ge=0, le=MAX_PRICE_CENTS)
    stock: WholeInt = Field(ge=1, le=MAX_STOCK)
    per_user_limit: WholeInt = Field(ge=1, le=MAX_PER_USER_LIMIT)
    starts_at: IsoTime
    ends_at: IsoTime
    # StockShard actors for this deal; FLASHSALE_SHARDS_PER_DEAL when not given. A deal
    # keeps it for life (buyers map to shards by a hash modulo it).
    shards: Annotated[WholeInt, Field(ge=1, le=MAX_SHARDS)] | None = None


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
    quantity: WholeInt = Field(ge=1, le=MAX_QUANTITY)


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
