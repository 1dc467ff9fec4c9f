"""The cluster's one-of-a-kind actors (publisher, sink, clock), by name."""

from __future__ import annotations

from typing import Any

from cluster import names
from cluster.settings import Settings


def singleton(actor: Any, name: str, settings: Settings) -> Any:
    """The detached actor of that name in flashsale's namespace, made if it does not
    exist yet: every ingress replica asks, the first one makes it."""
    return actor.options(
        name=name, namespace=names.NAMESPACE, lifetime="detached", get_if_exists=True
    ).remote(settings)
