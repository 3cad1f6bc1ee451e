"""webapp/api.py reads a JSON body holding a run of 19 digits with json instead of orjson (which would read an
integer beyond 64 bits as a float). The run is found with translate and find: it finds what the pattern [0-9]{19}
finds, on any bytes."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from webapp.api import has_long_number

PATTERN = re.compile(rb"[0-9]{19}")


@settings(max_examples=1000, deadline=None)
@given(st.one_of(st.binary(max_size=200),
                 st.lists(st.one_of(st.text("0123456789", min_size=15, max_size=22), st.text(max_size=5)),
                          max_size=8).map(lambda parts: "".join(parts).encode("utf-8")),
                 st.text("0123456789٠١２３ .,-e\"", max_size=60).map(lambda t: t.encode("utf-8"))))
def test_a_run_of_nineteen_digits_is_found_as_the_pattern_finds_it(data):
    assert has_long_number(data) == (PATTERN.search(data) is not None)


def test_the_edges():
    assert not has_long_number(b"1" * 18) and has_long_number(b"1" * 19)
    assert not has_long_number(("１" * 19).encode("utf-8"))  # full-width digits are no ASCII digits
    assert has_long_number(b'{"revenue": 12345678901234567890}')
