"""The sink's rows as SQL text (actors/adapters/mysql_store.py ``values_sql``): each field
formatted by its kind, strings only through the connection's escaping."""

import pymysql
import pytest
from pymysql.converters import escape_string

from actors.adapters.mysql_store import BadValue, refused_row, values_sql


def order(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "v": 1,
        "type": "created",
        "order_id": "o1",
        "deal_id": "d1",
        "user_id": "u1",
        "quantity": 2,
        "amount_cents": 400,
        "status": "reserved",
        "created_at": 1.5,
        "pay_by": 901.25,
        "paid_at": None,
        "cancelled_at": None,
    }
    return base | changes


def test_rows_in_column_order_with_times_as_utc_microseconds_and_null_for_none() -> None:
    sql = values_sql([order(), order(order_id="o2", status="paid", paid_at=2.0)], escape_string)
    assert sql == (
        "('o1','d1','u1',2,400,'reserved',"
        "TIMESTAMPADD(MICROSECOND,1500000,'1970-01-01'),"
        "TIMESTAMPADD(MICROSECOND,901250000,'1970-01-01'),NULL,NULL),"
        "('o2','d1','u1',2,400,'paid',"
        "TIMESTAMPADD(MICROSECOND,1500000,'1970-01-01'),"
        "TIMESTAMPADD(MICROSECOND,901250000,'1970-01-01'),"
        "TIMESTAMPADD(MICROSECOND,2000000,'1970-01-01'),NULL)"
    )


def test_strings_go_through_the_escaping_it_is_given() -> None:
    sql = values_sql([order(user_id="o'b\\")], escape_string)
    assert "'o\\'b\\\\'" in sql
    assert values_sql([order(user_id="x")], lambda s: s.upper()).count("'X'") == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [("user_id", 7), ("order_id", None), ("quantity", "2; DROP"), ("created_at", "now")],
)
def test_a_value_of_the_wrong_kind_is_refused_not_written(field: str, value: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        values_sql([order(**{field: value})], escape_string)


def test_only_a_rows_own_fault_counts_as_refused_never_an_outage_or_a_deadlock() -> None:
    with pytest.raises(BadValue) as bad:
        values_sql([order(user_id=7)], escape_string)
    assert refused_row(bad.value)
    assert not refused_row(TypeError("some other bug"))  # only a value values_sql refused
    for overflow in ({"created_at": float("inf")}, {"quantity": float("inf")}):
        with pytest.raises(BadValue):  # JSON's 1e400: an OverflowError, not a ValueError
            values_sql([order(**overflow)], escape_string)
    assert refused_row(UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"))
    assert refused_row(pymysql.err.DataError(1406, "Data too long for column 'user_id'"))
    assert refused_row(pymysql.err.OperationalError(4025, "CONSTRAINT `ck` failed"))
    assert not refused_row(pymysql.err.OperationalError(1213, "Deadlock found"))
    assert not refused_row(pymysql.err.OperationalError(2013, "Lost connection"))
    assert not refused_row(pymysql.err.ProgrammingError(1064, "You have an error in your SQL"))
    assert not refused_row(ConnectionError("reset"))
