"""The OpenAPI document and Swagger UI, under the API prefix, served from installed files only.

Swagger UI's JavaScript and CSS come from the `swagger-ui-bundle-v2` package (Swagger UI
5, which renders OpenAPI 3.1), never from a CDN: /docs works on a machine without
internet access, like the built-in page. There is no ReDoc page: no package ships ReDoc's
script without a web framework of its own. Only reads the package's files.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.resources.abc import Traversable
from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from swagger_ui_bundle import swagger_ui_path

SWAGGER_UI: Traversable = swagger_ui_path
"""The folder of Swagger UI's distribution inside the installed package."""
DOCS_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
}
ASSET_HEADERS = {"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"}
GET_HEAD = ["GET", "HEAD"]


def build_docs_router(prefix: str, title: str, openapi: Callable[[], dict[str, Any]]) -> APIRouter:
    """`{prefix}/openapi.json`, `{prefix}/docs` and the files the docs page loads.

    Declared as routes of their own (not FastAPI's built-in docs), so they take the prefix
    and the request metrics name them.
    """
    router = APIRouter(include_in_schema=False)
    assets: dict[str, bytes] = {}

    @router.api_route("/openapi.json", methods=GET_HEAD)
    def openapi_document() -> JSONResponse:
        return JSONResponse(openapi())

    @router.api_route("/docs", methods=GET_HEAD)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=f"{prefix}/openapi.json",
            title=f"{title} - Swagger UI",
            swagger_js_url=f"{prefix}/docs/assets/swagger-ui-bundle.js",
            swagger_css_url=f"{prefix}/docs/assets/swagger-ui.css",
            swagger_favicon_url=f"{prefix}/docs/assets/favicon-32x32.png",
            oauth2_redirect_url=None,  # bearer tokens only: no OAuth2 flow to return to
            # No badge from validator.swagger.io: the page asks nothing of another host.
            swagger_ui_parameters={"validatorUrl": None},
        )

    @router.api_route("/docs/assets/{name}", methods=GET_HEAD)
    def asset(name: str) -> Response:
        if name not in DOCS_ASSETS:
            raise HTTPException(404, detail="Not found")
        body = assets.get(name)
        if body is None:  # read on first use: the bundle is 1.5 MB and most processes never serve it
            body = assets[name] = SWAGGER_UI.joinpath(name).read_bytes()
        return Response(body, media_type=DOCS_ASSETS[name], headers=ASSET_HEADERS)

    return router
