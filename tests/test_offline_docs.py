"""Issue 15: the API's `/docs` works on a machine without internet. Swagger UI is rendered in
headless Chromium with every request to anything but this machine blocked, and the page lists
the operations; it asked nothing of the network (no CDN, no validator badge)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import uvicorn

from api.app import create_app
from tests.browser import CHROMIUM_ARGS, chromium
from workers.settings import Settings

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def api_url() -> Iterator[str]:
    """The real app under uvicorn; no lifespan, so neither PostgreSQL nor Temporal is needed
    to serve the docs."""
    port = _free_port()
    app = create_app(Settings(), "postgresql://unused/unused")
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_config=None)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped before serving"
        assert time.monotonic() < deadline, "uvicorn did not start in 30 s"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def test_docs_render_offline_in_a_browser(api_url: str) -> None:
    from playwright.sync_api import Error, Route, sync_playwright

    blocked: list[str] = []
    local: list[str] = []

    def only_this_machine(route: Route) -> None:
        url = route.request.url
        if urlsplit(url).hostname in LOCAL_HOSTS:
            local.append(url)
            route.continue_()
        else:
            blocked.append(url)
            route.abort("internetdisconnected")

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.route("**/*", only_this_machine)
            page.goto(f"{api_url}/docs", wait_until="load", timeout=60_000)
            try:
                page.wait_for_selector(".opblock-summary-path", timeout=30_000)
            except Error:
                pytest.fail(
                    "no operations list in /docs after 30 s offline; requests it sent off this "
                    f"machine: {blocked or 'none'}; page text: {page.inner_text('body')[:300]!r}"
                )
            paths = {
                t.strip().replace("\u200b", "")
                for t in page.locator(".opblock-summary-path").all_inner_texts()
            }
            errors = page.locator(".errors-wrapper").all_inner_texts()
            title = page.locator(".info .title").inner_text()
        finally:
            browser.close()

    assert blocked == [], f"/docs asked the internet for {blocked}"
    assert f"{api_url}/docs/assets/swagger-ui-bundle.js" in local
    assert "webex-lifecycles wholesale API" in title
    assert {"/v1/wholesale/customers", "/v1/wholesale/customers/{customerId}"} <= paths
    assert len(paths) >= 30, sorted(paths)
    assert errors == [], errors


def test_docs_document_is_openapi_30_and_openapi_json_stays_31(api_url: str) -> None:
    """Swagger UI 4 (the packaged one) reads 3.0 only: the page gets a 3.0 rendering of the
    same operations; `/openapi.json` stays FastAPI's 3.1 document."""
    import httpx

    original = httpx.get(f"{api_url}/openapi.json").json()
    for_ui = httpx.get(f"{api_url}/docs/openapi-3.0.json").json()
    assert original["openapi"].startswith("3.1")
    assert for_ui["openapi"] == "3.0.3"
    assert for_ui["paths"].keys() == original["paths"].keys()
    assert '{"type": "null"}' not in str(for_ui).replace("'", '"')
    assert httpx.get(f"{api_url}/redoc").status_code == 404  # its script would need a CDN
