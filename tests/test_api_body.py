"""The API's test for a run of 19 digits in a body (webapp/api.py `has_long_number`: such a body is read by json, which
keeps an integer beyond 64 bits exact, not by orjson) answers as the regular expression it replaces, on any bytes."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from webapp.api import has_long_number

REFERENCE = re.compile(rb"[0-9]{19}")
# mostly digits and the bytes around numbers in JSON, so runs of every length near 19 are common
ALPHABET = st.sampled_from(list(b"0123456789") + list(b'0123456789-+.eE ,:"[]{}/\x00\xff\xe5\x8f'))


@settings(max_examples=2000, deadline=None)
@given(st.lists(ALPHABET, max_size=80).map(bytes))
def test_a_run_of_19_digits_is_found_as_the_regular_expression_finds_it(data):
    assert has_long_number(data) == bool(REFERENCE.search(data))


def test_runs_at_the_edges():
    for n in (17, 18, 19, 20, 40):
        run = b"7" * n
        for data in (run, b'{"a": ' + run + b"}", b"x" + run, run + b"x", b"1" * (n - 1) + b"." + b"1"):
            assert has_long_number(data) == bool(REFERENCE.search(data)), data
    assert not has_long_number(b"")
    assert has_long_number("台州 1234567890123456789".encode())
    assert not has_long_number(("１" * 19).encode("utf-8"))  # full-width digits are no ASCII digits
