"""The relay's partitioner: one order's events on one partition, orders spread over all."""

from collections import Counter

from actors.adapters.kafka_publisher import partition_of


def test_a_key_always_lands_on_the_same_partition_of_those_given() -> None:
    partitions = [0, 1, 2, 3]
    for n in range(200):
        key = f"01JORDER{n:018d}".encode()
        first = partition_of(key, partitions)
        assert first in partitions
        assert all(partition_of(key, partitions) == first for _ in range(3))


def test_orders_spread_over_every_partition() -> None:
    spread = Counter(partition_of(f"order-{n}".encode(), [0, 1, 2, 3]) for n in range(4000))
    assert set(spread) == {0, 1, 2, 3}
    assert min(spread.values()) > 800  # 1,000 each, give or take
