import pytest

from cluster.settings import Settings, SettingsError

SECRET = {"FLASHSALE_JWT_SECRET": "x" * 32}


def test_defaults_derive_local_addresses() -> None:
    s = Settings.from_env(SECRET)
    assert s.payment_timeout_s == 900
    assert s.preheat_lead_s == 300
    assert s.http_port == 8000
    assert s.redis_url == "redis://127.0.0.1:6390/0"
    assert s.kafka_bootstrap == "127.0.0.1:9092"
    assert s.mysql().port == 3307
    assert s.given == frozenset()


def test_redis_stays_off_rays_gcs_port() -> None:
    s = Settings.from_env(SECRET)
    assert s.redis_port != s.ray_port


def test_given_addresses_are_used_and_recorded() -> None:
    s = Settings.from_env(
        {**SECRET, "REDIS_URL": "redis://cache:7000/1", "MYSQL_DSN": "mysql://u:p@db:3306/shop"}
    )
    assert s.redis_url == "redis://cache:7000/1"
    assert s.mysql().host == "db" and s.mysql().database == "shop"
    assert s.given == {"REDIS_URL", "MYSQL_DSN"}


def test_port_setting_moves_the_derived_address() -> None:
    s = Settings.from_env({**SECRET, "FLASHSALE_REDIS_PORT": "7777"})
    assert s.redis_url == "redis://127.0.0.1:7777/0"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("FLASHSALE_PAYMENT_TIMEOUT_S", "0"),
        ("FLASHSALE_PAYMENT_TIMEOUT_S", "-5"),
        ("FLASHSALE_PAYMENT_TIMEOUT_S", "soon"),
        ("FLASHSALE_SHARDS_PER_DEAL", "0"),
        ("FLASHSALE_SHARDS_PER_DEAL", "1.5"),
        ("FLASHSALE_HTTP_PORT", "70000"),
        ("FLASHSALE_RATE_LIMIT_PER_USER", "-1"),
        ("FLASHSALE_JWT_SECRET", "short"),
    ],
)
def test_bad_values_are_rejected_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({**SECRET, name: value})
    assert name in str(caught.value)


def test_missing_secret_is_named() -> None:
    with pytest.raises(SettingsError, match="FLASHSALE_JWT_SECRET"):
        Settings.from_env({})


def test_colliding_ports_are_rejected() -> None:
    with pytest.raises(SettingsError, match="must all differ"):
        Settings.from_env({**SECRET, "FLASHSALE_REDIS_PORT": "6379"})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MYSQL_DSN", "postgres://u@h/db"),
        ("MYSQL_DSN", "mysql://h:3306"),
        ("REDIS_URL", "http://x"),
    ],
)
def test_malformed_addresses_are_rejected(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name.split("_")[0]):
        Settings.from_env({**SECRET, name: value})


def test_settings_are_frozen() -> None:
    s = Settings.from_env(SECRET)
    with pytest.raises(ValueError):
        s.payment_timeout_s = 1  # type: ignore[misc]


def test_to_env_round_trips() -> None:
    s = Settings.from_env({**SECRET, "FLASHSALE_PAYMENT_TIMEOUT_S": "60", "KAFKA_BOOTSTRAP": "k:1"})
    again = Settings.from_env(s.to_env())
    assert again.model_dump(exclude={"given"}) == s.model_dump(exclude={"given"})
    assert again.payment_timeout_s == 60


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ("", ""),
        ("https://cdn.example.com", "https://cdn.example.com"),
        ("https://cdn.example.com/", "https://cdn.example.com"),
        ("http://127.0.0.1:9000/shop/", "http://127.0.0.1:9000/shop"),
        ("https://[::1]:8443", "https://[::1]:8443"),
    ],
)
def test_the_cdn_base_url_loses_its_trailing_slash(value: str, kept: str) -> None:
    assert Settings.from_env({**SECRET, "FLASHSALE_CDN_BASE_URL": value}).cdn_base_url == kept


@pytest.mark.parametrize(
    "value",
    [
        "cdn.example.com",
        "ftp://cdn.example.com",
        "//cdn.example.com",
        "https://",
        "/",
        "https://cdn.example.com/?v=1",
        "https://cdn.example.com/#top",
        'https://cdn.example.com/"><script>',
        "https://cdn.example.com/a b",
    ],
)
def test_a_bad_cdn_base_url_is_named(value: str) -> None:
    with pytest.raises(SettingsError, match="FLASHSALE_CDN_BASE_URL"):
        Settings.from_env({**SECRET, "FLASHSALE_CDN_BASE_URL": value})


def test_the_cdn_base_url_round_trips_through_the_environment() -> None:
    s = Settings.from_env({**SECRET, "FLASHSALE_CDN_BASE_URL": "https://cdn.example.com/"})
    assert s.to_env()["FLASHSALE_CDN_BASE_URL"] == "https://cdn.example.com"
    assert Settings.from_env(s.to_env()).cdn_base_url == "https://cdn.example.com"
