"""A test client that uses the portal like a person with a browser: it reads forms,
sends their CSRF tokens back, and follows redirects."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

from flask.testing import FlaskClient


class FormReader(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tokens: list[str] = []
        self.errors: list[str] = []
        self.flashes: list[str] = []
        self.main: dict[str, str | None] = {}
        self.html_lang: str | None = None
        self._capture: list[str] | None = None
        self._text: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "html":
            self.html_lang = a.get("lang")
        if tag == "main":
            self.main = a
        if tag == "input" and a.get("name") == "csrf_token" and a.get("value"):
            self.tokens.append(a["value"] or "")
        classes = (a.get("class") or "").split()
        if "field-error" in classes:
            self._capture = self.errors
        elif "flash" in classes:
            self._capture = self.flashes
        if self._capture is not None:
            self._text = []

    def handle_endtag(self, tag: str) -> None:
        if self._capture is not None and tag == "p":
            self._capture.append(" ".join("".join(self._text).split()))
            self._capture = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._capture is not None:
            self._text.append(data)


class Page:
    def __init__(self, response: Any) -> None:
        self.response = response
        self.status = response.status_code
        self.html = response.get_data(as_text=True)
        reader = FormReader()
        reader.feed(self.html)
        self.reader = reader

    @property
    def errors(self) -> list[str]:
        return self.reader.errors

    @property
    def flashes(self) -> list[str]:
        return self.reader.flashes

    @property
    def text(self) -> str:
        return re.sub(r"\s+", " ", " ".join(self.reader.text))

    @property
    def endpoint(self) -> str | None:
        return self.reader.main.get("data-page")


class PortalClient:
    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self.last: Page | None = None

    def get(self, path: str, **kwargs: Any) -> Page:
        self.last = Page(self.client.get(path, follow_redirects=True, **kwargs))
        return self.last

    def token(self, path: str | None = None) -> str:
        page = self.get(path) if path else self.last
        assert page is not None and page.reader.tokens, "no form with a CSRF token on the page"
        return page.reader.tokens[0]

    def post(
        self,
        path: str,
        data: dict[str, Any] | None = None,
        *,
        form_page: str | None = None,
        **kwargs: Any,
    ) -> Page:
        """Submit like a browser: take a fresh CSRF token from ``form_page`` (or ``path``)."""
        token = self.token(form_page or path)
        body = {"csrf_token": token, **(data or {})}
        self.last = Page(self.client.post(path, data=body, follow_redirects=True, **kwargs))
        return self.last

    def signup(self, business: str, email: str, password: str = "correct horse battery") -> Page:
        """Sign up, then sign in as the welcome mail says: the profile page; or the page
        with the form's errors."""
        page = self.post(
            "/portal/signup",
            {
                "business_name": business,
                "name": "Chủ cơ sở",
                "email": email,
                "password": password,
                "confirm": password,
            },
        )
        if page.endpoint != "portal.signup_sent":
            return page
        return self.login(email, password)

    def login(self, email: str, password: str = "correct horse battery") -> Page:
        return self.post("/portal/login", {"email": email, "password": password})

    def logout(self) -> Page:
        return self.post("/portal/logout", form_page="/portal/")
