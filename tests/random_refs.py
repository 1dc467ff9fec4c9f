"""Unique names per test, so tests share services but never each other's data."""

import uuid


def suffix() -> str:
    return uuid.uuid4().hex[:10]


def topic(prefix: str = "test") -> str:
    return f"{prefix}-{suffix()}"


def key(prefix: str = "test") -> str:
    return f"test:{prefix}:{suffix()}"
