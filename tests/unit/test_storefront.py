"""The storefront page and its assets (serve_app/storefront.py), on a FastAPI app that
has only the storefront router and the project's error handlers.

Through httpx's ASGI transport, as tests/unit/test_http_errors.py: this Starlette's
TestClient warns about httpx, and warnings are errors here."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from cluster.settings import Settings
from serve_app import storefront
from serve_app.backends import Backends
from serve_app.bootstrap import build_shop
from serve_app.errors import install_error_handlers
from serve_app.fastapi_app import create_api
from serve_app.storefront import ASSET_CACHE, STATIC_DIR, Assets, accepts_gzip, hashed_name

CDN = "https://cdn.example.com/shop"
IDENTITY = {"Accept-Encoding": "identity"}
GZIP = {"Accept-Encoding": "gzip, deflate"}
STATIC_FILES = sorted(p.name for p in STATIC_DIR.iterdir() if p.name != storefront.PAGE)


def make_api(assets: Assets) -> FastAPI:
    api = FastAPI()
    api.state.assets = assets
    install_error_handlers(api)
    api.include_router(storefront.router)
    return api


def make_client(api: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=api, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(make_api(Assets.load())) as c:
        yield c


def page_urls(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="(/static/[^"]+)"', html)


def import_map(html: str) -> dict[str, str]:
    found = re.search(r'<script type="importmap">(.*?)</script>', html, re.S)
    assert found, html
    imports: dict[str, str] = json.loads(found.group(1))["imports"]
    return imports


def assert_not_found(response: httpx.Response) -> None:
    assert response.status_code == 404, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["error"]["code"] == "not_found"
    assert body["error"]["message"]


async def test_the_page_names_every_asset_by_its_content_hash(client: httpx.AsyncClient) -> None:
    html = (await client.get("/", headers=IDENTITY)).text
    urls = page_urls(html)
    assert "/static/app.css" not in html and '"/static/app.js"' not in html.split("importmap")[0]
    for name in ("app.css", "app.js"):
        raw = (STATIC_DIR / name).read_bytes()
        digest = hashlib.sha256(raw).hexdigest()[:12]
        stem, suffix = name.rsplit(".", 1)
        assert f"/static/{stem}.{digest}.{suffix}" in urls
    assert hashed_name("app.js", b"x") == f"app.{hashlib.sha256(b'x').hexdigest()[:12]}.js"


async def test_the_import_map_sends_every_module_to_its_hashed_name(
    client: httpx.AsyncClient,
) -> None:
    imports = import_map((await client.get("/")).text)
    modules = [n for n in STATIC_FILES if n.endswith(".js")]
    assert sorted(imports) == sorted(f"/static/{n}" for n in modules)
    for plain, hashed in imports.items():
        assert (await client.get(hashed)).content == (
            STATIC_DIR / plain.rsplit("/", 1)[1]
        ).read_bytes()


async def test_every_module_is_preloaded_after_the_import_map(client: httpx.AsyncClient) -> None:
    html = (await client.get("/")).text
    preloads = re.findall(r'<link rel="modulepreload" href="([^"]+)">', html)
    assert sorted(preloads) == sorted(import_map(html).values())
    assert html.index('type="importmap"') < html.index("modulepreload")


@pytest.mark.parametrize("name", STATIC_FILES)
async def test_each_asset_is_served_for_a_year_with_its_type(
    client: httpx.AsyncClient, name: str
) -> None:
    url = Assets.load().urls[name]
    response = await client.get(url, headers=IDENTITY)
    assert response.status_code == 200
    assert response.content == (STATIC_DIR / name).read_bytes()
    assert response.headers["cache-control"] == ASSET_CACHE == "public, max-age=31536000, immutable"
    assert response.headers["vary"] == "Accept-Encoding"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "content-encoding" not in response.headers
    expected = {
        ".css": "text/css; charset=utf-8",
        ".js": "text/javascript; charset=utf-8",
    }[Path(name).suffix]
    assert response.headers["content-type"] == expected


async def test_the_page_is_html_revalidated_on_every_load(client: httpx.AsyncClient) -> None:
    response = await client.get("/", headers=IDENTITY)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["vary"] == "Accept-Encoding"
    assert response.text.startswith("<!doctype html>")


async def test_gzip_when_accepted(client: httpx.AsyncClient) -> None:
    url = Assets.load().urls["app.js"]
    for path, raw in ((url, (STATIC_DIR / "app.js").read_bytes()), ("/", None)):
        # Fewer bytes on the wire than the body that httpx unpacked from them.
        response = await client.get(path, headers=GZIP)
        assert response.headers["content-encoding"] == "gzip"
        assert response.headers["vary"] == "Accept-Encoding"
        assert int(response.headers["content-length"]) < len(response.content)
        if raw is not None:
            assert response.content == raw  # httpx has unpacked it


def test_the_gzip_body_is_made_once_and_is_deterministic() -> None:
    first, second = Assets.load(), Assets.load()
    body = first.asset(first.urls["app.js"].rsplit("/", 1)[1])
    assert body is not None and body.gzipped is not None
    assert gzip.decompress(body.gzipped) == body.raw
    assert body.gzipped == second.asset(first.urls["app.js"].rsplit("/", 1)[1]).gzipped  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("header", "gzip_ok"),
    [
        ("gzip", True),
        ("GZIP", True),
        ("deflate, gzip;q=0.5", True),
        ("br;q=1.0, gzip; q=0.8, *;q=0.1", True),
        ("x-gzip", True),
        ("*", True),
        ("", False),
        ("identity", False),
        ("deflate, br", False),
        ("gzip;q=0", False),
        ("gzip;q=0.000", False),
        ("*;q=0", False),
        ("*, gzip;q=0", False),
        ("gzip;q=nonsense", False),
    ],
)
def test_accept_encoding_is_read_as_rfc_9110_says(header: str, gzip_ok: bool) -> None:
    assert accepts_gzip(header) is gzip_ok


async def test_if_none_match_gets_304_without_a_body(client: httpx.AsyncClient) -> None:
    first = await client.get("/", headers=IDENTITY)
    etag = first.headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag)  # strong: no W/
    again = await client.get("/", headers={**IDENTITY, "If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert again.headers["cache-control"] == "no-cache"
    for header in (f"W/{etag}", f'"other", {etag}', "*"):
        assert (await client.get("/", headers={"If-None-Match": header})).status_code == 304
    assert (await client.get("/", headers={"If-None-Match": '"other"'})).status_code == 200


async def test_the_gzip_page_has_its_own_etag_and_either_revalidates(
    client: httpx.AsyncClient,
) -> None:
    plain = (await client.get("/", headers=IDENTITY)).headers["etag"]
    packed = (await client.get("/", headers=GZIP)).headers["etag"]
    assert packed != plain and packed.startswith(plain[:-1])
    for etag in (plain, packed):
        response = await client.get("/", headers={**GZIP, "If-None-Match": etag})
        assert response.status_code == 304
        assert response.headers["etag"] == packed


def test_the_etag_is_a_hash_of_the_rendered_page() -> None:
    here, there = Assets.load(), Assets.load(CDN)
    assert here.etag != there.etag  # another page: other asset URLs
    assert here.etag == Assets.load().etag  # the same on every replica


async def test_a_cdn_base_prefixes_every_asset_url() -> None:
    assets = Assets.load(CDN)
    async with make_client(make_api(assets)) as client:
        html = (await client.get("/")).text
        refs = re.findall(r'(?:src|href)="([^"]*static/[^"]+)"', html)
        assert refs and all(r.startswith(f"{CDN}/static/") for r in refs)
        assert '"/static/' not in html
        imports = import_map(html)
        assert imports[f"{CDN}/static/api.js"] == assets.urls["api.js"]
        # The CDN pulls from this server by the same path; module scripts load in CORS mode.
        response = await client.get(assets.urls["app.css"].removeprefix(CDN))
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize(
    "path",
    [
        "/static/../pyproject.toml",
        "/static/..%2Fpyproject.toml",
        "/static/%2e%2e/pyproject.toml",
        "/static/%2e%2e%2fpyproject.toml",
        "/static/%2e%2e",
        "/static/.",
        "/static/",
        "/static//etc/passwd",
        "/static/%2Fetc%2Fpasswd",
        "/static/..%5c..%5cpyproject.toml",
        "/static/app.js",  # the plain name: only hashed names are served
        "/static/index.html",  # the template is the page, not an asset
        "/static/storefront.py",
        "/static/app.css%00",
    ],
)
async def test_paths_outside_the_manifest_are_404_json(
    client: httpx.AsyncClient, path: str
) -> None:
    assert_not_found(await client.get(path))


@pytest.mark.parametrize(
    "raw_path",
    ["/static/../pyproject.toml", "/static/../../etc/passwd", "/static/..", "/static/%2e%2e"],
)
async def test_a_raw_path_that_no_client_normalised_is_404_too(raw_path: str) -> None:
    """HTTP clients remove dot segments before sending; a hostile one need not."""
    api = make_api(Assets.load())
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": raw_path,
        "raw_path": raw_path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"test")],
        "server": ("test", 80),
        "client": ("test", 1),
    }
    await api(scope, receive, send)
    assert sent[0]["status"] == 404
    body = json.loads(b"".join(m.get("body", b"") for m in sent[1:]))
    assert body["error"]["code"] == "not_found"


async def test_only_files_read_at_start_are_served(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text('<link href="/static/a.css"><!-- importmap -->')
    (tmp_path / "a.css").write_text("body { color: red }")
    assets = Assets.load(folder=tmp_path)
    (tmp_path / "a.css").write_text("changed")
    (tmp_path / "b.css").write_text("new")
    async with make_client(make_api(assets)) as client:
        assert (await client.get(assets.urls["a.css"])).text == "body { color: red }"
        assert_not_found(await client.get(f"/static/{hashed_name('b.css', b'new')}"))


def test_a_page_that_names_a_missing_asset_stops_start_up() -> None:
    with pytest.raises(ValueError, match=r"gone\.js"):
        Assets({"index.html": b'<script src="/static/gone.js"></script>'})


def test_a_file_of_unknown_type_stops_start_up() -> None:
    with pytest.raises(ValueError, match=r"notes\.md"):
        Assets({"index.html": b"", "notes.md": b"x"})


def test_the_page_template_is_required() -> None:
    with pytest.raises(ValueError, match=r"index\.html"):
        Assets({"app.js": b""})


async def test_openapi_documents_the_status_codes(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    page = paths["/"]["get"]["responses"]
    assert {"200", "304"} <= set(page)
    assert "text/html" in page["200"]["content"]
    asset = paths["/static/{name}"]["get"]["responses"]
    assert {"200", "404"} <= set(asset)


async def test_the_shop_app_serves_the_page_with_its_cdn_setting() -> None:
    settings = Settings.from_env(
        {"FLASHSALE_JWT_SECRET": "s" * 32, "FLASHSALE_CDN_BASE_URL": f"{CDN}/"}
    )
    api = create_api(build_shop(settings, Backends(settings)))  # nothing connects yet
    async with make_client(api) as client:
        html = (await client.get("/")).text
        paths = list((await client.get("/openapi.json")).json()["paths"])
    assert paths.index("/api/deals/{deal_id}/purchase") < paths.index("/")  # the hot route first
    assert f'href="{CDN}/static/app.' in html
