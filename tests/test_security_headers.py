"""Every response's security headers (webapp/security.py `add_security_headers`) are what `Headers.setdefault` of
each gave: added in order where the response has no header of that name (in any case), a response's own kept."""

from __future__ import annotations

import itertools

from werkzeug.datastructures import Headers

from webapp.security import SECURITY_HEADERS, add_security_headers


def reference(headers: Headers) -> None:
    for name, value in SECURITY_HEADERS:
        headers.setdefault(name, value)


def test_the_headers_are_those_setdefault_gave_whatever_the_response_sets_itself():
    own = [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", "12"),
           ("content-security-policy", "default-src 'none'"), ("X-FRAME-OPTIONS", "SAMEORIGIN"),
           ("Referrer-Policy", "no-referrer"), ("Vary", "Cookie"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")]
    for k in range(len(own) + 1):
        for chosen in itertools.combinations(own, k):
            expected, got = Headers(list(chosen)), Headers(list(chosen))
            reference(expected)
            add_security_headers(got)
            assert got.to_wsgi_list() == expected.to_wsgi_list(), chosen


def test_a_page_and_an_api_answer_carry_them(client):
    for response in (client.get("/"), client.get("/api/v1/measures")):
        for name, value in SECURITY_HEADERS:
            assert response.headers[name] == value, name
