"""The storefront page (``GET /``) and its assets (``GET /static/{name}``), from memory.

The static folder is read once, at start. Each asset is served under a name that
carries a hash of its content (``app.3f2a9c1b7d4e.js``), so browsers and a CDN in front
(``FLASHSALE_CDN_BASE_URL``) may keep it for a year: a deploy that changes a file
changes its name, and the page, which browsers revalidate on every load (``no-cache``
and an ``ETag``), names the new one. Only names in the in-memory manifest are served, so
no request path reaches the file system (``..``, ``%2e%2e``, absolute paths: all 404).

The page's ES modules import each other by their plain names (``./api.js``); an import
map that the page carries sends those imports to the hashed names. That keeps each
module's hash its own content's, and the source files runnable from any plain server.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import HTMLResponse, Response

from serve_app.errors import ApiError

STATIC_DIR = Path(__file__).with_name("static")
PAGE = "index.html"  # the template of the page, not served as an asset itself
HASH_CHARS = 12
IMPORTMAP_MARK = "<!-- importmap -->"  # where the template wants the import map
ASSET_CACHE = "public, max-age=31536000, immutable"

# An explicit table rather than ``mimetypes``, whose answers depend on the machine's
# /etc/mime.types. A file of another kind in the folder stops start-up, so it is noticed.
TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
_COMPRESSIBLE = (".css", ".js", ".html", ".svg", ".json", ".txt")
# "/static/<name>" in quotes, as the template's src/href attributes write it.
_REFERENCE = re.compile(r"""(?<=["'])/static/([^"'\s?#]+)(?=["'])""")


@dataclass(frozen=True, slots=True)
class Body:
    """One resource's bytes, and their gzip form (made once) when that is smaller."""

    raw: bytes
    gzipped: bytes | None
    content_type: str

    @classmethod
    def of(cls, name: str, raw: bytes) -> Body:
        suffix = Path(name).suffix
        packed = None
        if suffix in _COMPRESSIBLE:
            # mtime=0: the same input gives the same bytes on every replica.
            packed = gzip.compress(raw, compresslevel=9, mtime=0)
            if len(packed) >= len(raw):
                packed = None
        return cls(raw, packed, TYPES[suffix])

    def answer(self, accept_encoding: str, headers: dict[str, str]) -> Response:
        # Vary on every answer, compressed or not, so that a shared cache keeps both.
        headers = {**headers, "Vary": "Accept-Encoding", "X-Content-Type-Options": "nosniff"}
        if self.gzipped is not None and accepts_gzip(accept_encoding):
            headers["Content-Encoding"] = "gzip"
            return Response(self.gzipped, media_type=self.content_type, headers=headers)
        return Response(self.raw, media_type=self.content_type, headers=headers)


class Assets:
    """The manifest (plain name -> public URL), the hashed assets and the rendered page.

    ``files`` maps names in the static folder to their bytes (``load`` reads them);
    ``cdn_base_url`` is "" (this server) or an ``http(s)://`` base without a trailing
    slash, as ``cluster/settings.py`` validates it.
    """

    def __init__(self, files: Mapping[str, bytes], cdn_base_url: str = "") -> None:
        if PAGE not in files:
            raise ValueError(f"the storefront needs {PAGE} among its static files")
        self.urls: dict[str, str] = {}
        self._served: dict[str, Body] = {}
        for name, raw in sorted(files.items()):
            if name == PAGE:
                continue
            if Path(name).suffix not in TYPES:
                raise ValueError(f"static file {name!r}: no content type known for it")
            hashed = hashed_name(name, raw)
            self.urls[name] = f"{cdn_base_url}/static/{hashed}"
            self._served[hashed] = Body.of(name, raw)
        html = render(files[PAGE].decode(), self.urls, cdn_base_url).encode()
        self.page = Body.of(PAGE, html)
        digest = hashlib.sha256(html).hexdigest()[:32]
        # A strong validator names one representation: the gzip one gets its own.
        self.etag = f'"{digest}"'
        self.etag_gzip = f'"{digest}-gzip"'

    @classmethod
    def load(cls, cdn_base_url: str = "", folder: Path = STATIC_DIR) -> Assets:
        files = {
            path.name: path.read_bytes()
            for path in folder.iterdir()
            if path.is_file() and not path.name.startswith(".")
        }
        return cls(files, cdn_base_url)

    def asset(self, hashed: str) -> Body | None:
        return self._served.get(hashed)


def hashed_name(name: str, raw: bytes) -> str:
    """``app.js`` -> ``app.<first 12 hex of sha256>.js``."""
    stem, dot, suffix = name.rpartition(".")
    digest = hashlib.sha256(raw).hexdigest()[:HASH_CHARS]
    return f"{stem}.{digest}.{suffix}" if dot else f"{name}.{digest}"


def render(template: str, urls: Mapping[str, str], cdn_base_url: str) -> str:
    """The page: ``/static/<name>`` references swapped for hashed URLs, plus the import map."""

    def swap(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in urls:
            # Caught at start rather than as a 404 in every visitor's browser.
            raise ValueError(f"{PAGE} refers to /static/{name}, which is not a static file")
        return urls[name]

    html = _REFERENCE.sub(swap, template)
    modules = {f"{cdn_base_url}/static/{n}": u for n, u in urls.items() if n.endswith(".js")}
    # "<" escaped: nothing inside the script element can close it early.
    mapping = json.dumps({"imports": modules}, sort_keys=True).replace("<", "\\u003c")
    # Preloads after the map (a browser ignores a map that comes after a module load):
    # every module is fetched at once instead of level by level of the import tree.
    preloads = "".join(f'\n  <link rel="modulepreload" href="{u}">' for u in modules.values())
    return html.replace(IMPORTMAP_MARK, f'<script type="importmap">{mapping}</script>{preloads}')


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether ``Accept-Encoding`` admits gzip (RFC 9110 §12.5.3): named with q > 0, or
    not named and ``*`` admitted."""
    star = False
    for item in accept_encoding.split(","):
        coding, _, params = item.partition(";")
        coding = coding.strip().lower()
        if coding in ("gzip", "x-gzip"):
            return _quality(params) > 0
        if coding == "*":
            star = _quality(params) > 0
    return star


def _quality(params: str) -> float:
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "q":
            try:
                return float(value.strip())
            except ValueError:
                return 0.0  # a q we cannot read: do not risk an encoding they refuse
    return 1.0


def _matches(if_none_match: str, etags: tuple[str, ...]) -> bool:
    # If-None-Match compares weakly (RFC 9110 §13.1.2): W/"x" matches "x".
    if if_none_match.strip() == "*":
        return True
    given = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return any(etag in given for etag in etags)


router = APIRouter(tags=["storefront"])

IfNoneMatch = Annotated[
    str | None, Header(description="an ETag of the page seen before: 304 if unchanged")
]
AcceptEncoding = Annotated[str | None, Header(description="gzip is used when admitted")]


@router.get(
    "/",
    response_class=HTMLResponse,
    summary="The storefront page (asset URLs hashed; revalidate with If-None-Match)",
    responses={
        200: {"description": "the page; Cache-Control: no-cache, a strong ETag"},
        304: {"description": "If-None-Match names the current ETag: no body"},
    },
)
async def page(
    request: Request,
    if_none_match: IfNoneMatch = None,
    accept_encoding: AcceptEncoding = None,
) -> Response:
    assets: Assets = request.app.state.assets
    encoding = accept_encoding or ""
    gzipped = assets.page.gzipped is not None and accepts_gzip(encoding)
    headers = {"Cache-Control": "no-cache", "ETag": assets.etag_gzip if gzipped else assets.etag}
    if if_none_match and _matches(if_none_match, (assets.etag, assets.etag_gzip)):
        return Response(status_code=304, headers={**headers, "Vary": "Accept-Encoding"})
    return assets.page.answer(encoding, headers)


@router.get(
    "/static/{name}",
    response_class=Response,
    summary="A storefront asset by its content-hashed name (cached for a year)",
    responses={
        200: {
            "description": "the asset; Cache-Control: public, max-age=31536000, immutable",
            "content": {"text/css": {}, "text/javascript": {}},
        },
        404: {"description": "not_found: no asset has that name"},
    },
)
async def static_asset(
    name: str, request: Request, accept_encoding: AcceptEncoding = None
) -> Response:
    found = request.app.state.assets.asset(name)
    if found is None:
        raise ApiError(404, "not_found", "no such asset; asset names change with each release")
    # Any origin may read it: module scripts load in CORS mode, also from a CDN's origin.
    headers = {"Cache-Control": ASSET_CACHE, "Access-Control-Allow-Origin": "*"}
    answer: Response = found.answer(accept_encoding or "", headers)
    return answer
