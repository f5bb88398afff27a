"""A tiny form driver for the set-up wizard's web pages (api/orders/web.py) over httpx: it
keeps what a browser keeps (the link's token and the sealed answers of the page it shows)
and posts a screen's fields as a browser posts a form."""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx

HIDDEN = re.compile(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">')


def link_of(body: str) -> str:
    """The *Set up now* link of a provisioning email."""
    return next(w for w in body.split() if w.startswith("http"))


def token_of(link: str) -> str:
    return parse_qs(urlparse(link).query)["token"][0]


class WebWizard:
    def __init__(self, http: httpx.AsyncClient, link: str) -> None:
        self.http = http
        u = urlparse(link)
        self.path = f"{u.path}?{u.query}"
        self.page = ""
        self.status = 0

    async def open(self) -> str:
        r = await self.http.get(self.path, headers={"Authorization": ""})
        return self._seen(r)

    def _seen(self, r: httpx.Response) -> str:
        self.status, self.page = r.status_code, r.text
        return self.page

    def hidden(self) -> dict[str, str]:
        return {k: html.unescape(v) for k, v in HIDDEN.findall(self.page)}

    @property
    def screen(self) -> str:
        return self.hidden().get("screen", "")

    async def post(self, action: str = "next", **fields: Any) -> str:
        """Submit the shown form with ``fields`` (True for a ticked checkbox)."""
        data = {**self.hidden(), "action": action}
        for k, v in fields.items():
            if v is True:
                data[k] = "on"
            elif v not in (None, False):
                data[k] = str(v)
        r = await self.http.post(
            "/orders/setup",
            content="&".join(f"{k}={_q(v)}" for k, v in data.items()),
            headers={"Content-Type": "application/x-www-form-urlencoded", "Authorization": ""},
        )
        return self._seen(r)

    def errors(self) -> list[str]:
        return [
            html.unescape(m) for m in re.findall(r'<p class="field-error"[^>]*>([^<]*)<', self.page)
        ]

    def alert(self) -> list[str]:
        block = re.search(r'<div class="errors".*?</div>', self.page, re.S)
        if not block:
            return []
        return [html.unescape(m) for m in re.findall(r"<li>([^<]*)</li>", block.group(0))]


def _q(v: str) -> str:
    from urllib.parse import quote_plus

    return quote_plus(v)
