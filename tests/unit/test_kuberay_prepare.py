"""kuberay.prepare: the migration Job's step and the head's wait, over fakes."""

from __future__ import annotations

import pytest

from kuberay import prepare

ENV = {"FLASHSALE_JWT_SECRET": "x" * 32}


@pytest.fixture(autouse=True)
def _no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prepare, "RETRY_S", 0.0)


def test_a_dependency_still_starting_is_tried_again() -> None:
    calls = []

    def step() -> bool:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionRefusedError("mariadb is starting")
        return True

    assert prepare.until(step, 60, "migrating")
    assert len(calls) == 3


def test_it_gives_up_after_the_timeout() -> None:
    def never() -> bool:
        raise ConnectionRefusedError("down")

    assert not prepare.until(never, 0, "migrating")


def test_the_wait_ends_when_nothing_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = [["migration 0002", "topic orders"], ["topic orders"], []]
    monkeypatch.setattr(prepare, "missing", lambda _settings: answers.pop(0))
    assert prepare.main(["--wait", "60"], ENV) == 0
    assert answers == []


def test_the_wait_fails_when_the_job_never_finishes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prepare, "missing", lambda _settings: ["migration 0001"])
    assert prepare.main(["--wait", "0"], ENV) == 1


def test_the_job_migrates_then_creates_the_topics(monkeypatch: pytest.MonkeyPatch) -> None:
    done = []
    monkeypatch.setattr(prepare, "migrate_and_create_topics", lambda s: done.append(s))
    assert prepare.main([], ENV) == 0
    assert done[0].kafka_orders_topic == "orders"
