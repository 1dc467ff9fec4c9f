"""The KRaft cluster id the local Kafka is formatted with."""

import base64

from cluster.local.kafka import new_cluster_id


def test_cluster_ids_are_16_bytes_and_never_read_as_an_option() -> None:
    # One raw id in 64 starts with "-"; 2,000 draws meet such ids with certainty
    # short of 1e-13, so this fails if the guard is lost.
    ids = {new_cluster_id() for _ in range(2000)}
    assert len(ids) == 2000
    for cluster_id in ids:
        assert not cluster_id.startswith("-")
        assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16
