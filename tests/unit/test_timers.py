import pytest

from actors.domain import timers
from actors.domain.timers import Kind, Timer


@pytest.mark.parametrize(
    "timer",
    [
        timers.expire("d-1", 3, "01ORDER"),
        timers.preheat("d-1"),
        timers.retire("d-1"),
    ],
)
def test_a_timer_is_its_own_id(timer: Timer) -> None:
    assert Timer.decode(timer.encode()) == timer


def test_the_same_timer_encodes_the_same_way() -> None:
    assert timers.expire("d", 0, "o").encode() == timers.expire("d", 0, "o").encode()
    assert timers.preheat("d").kind is Kind.PREHEAT


@pytest.mark.parametrize(
    "raw", ["", "nap|d", "expire|d|0", "expire|d|x|o", "preheat|", "retire|d|1"]
)
def test_members_this_code_did_not_write_are_refused(raw: str) -> None:
    with pytest.raises(ValueError):
        Timer.decode(raw)
