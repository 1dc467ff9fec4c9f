from cluster.settings import Settings
from serve_app.rate_limits import RateLimits


def settings(per_user: float, total: float) -> Settings:
    return Settings.from_env(
        {
            "FLASHSALE_JWT_SECRET": "s" * 32,
            "FLASHSALE_RATE_LIMIT_PER_USER": str(per_user),
            "FLASHSALE_RATE_LIMIT_GLOBAL": str(total),
        }
    )


async def test_a_user_over_the_rate_is_told_when_to_retry() -> None:
    p = RateLimits(settings(per_user=3, total=1000))
    answers = [await p.admit("u1") for _ in range(5)]
    assert answers[:3] == [None, None, None]
    assert answers[3] is not None and answers[3] >= 1
    assert await p.admit("u2") is None  # others are not affected


async def test_the_total_rate_binds_everyone() -> None:
    p = RateLimits(settings(per_user=100, total=4))
    answers = [await p.admit(f"u{i}") for i in range(6)]
    assert answers.count(None) == 4


async def test_the_user_forgotten_to_bound_memory_is_the_one_idle_longest() -> None:
    p = RateLimits(settings(per_user=2, total=1000), max_users=2)
    assert [await p.admit("abuser") for _ in range(2)] == [None, None]
    assert await p.admit("quiet") is None
    assert await p.admit("abuser") is not None  # still over the rate: seen last now
    assert await p.admit("newcomer") is None  # a third user: "quiet" is forgotten
    assert await p.admit("abuser") is not None  # kept its empty bucket
