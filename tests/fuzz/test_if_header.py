"""The ``If`` header: the strict parser round-trips and never fails except with
IfHeaderError, and for the canonical form ``DavLimits`` hands on, WsgiDAV's own evaluation
(which is what runs in the server) agrees with RFC 4918 as implemented in ``evaluate``."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from wsgidav import util

from davserver.http.if_header import (
    Condition,
    IfHeader,
    IfHeaderError,
    TaggedLists,
    evaluate,
    parse,
)
from tests.fuzz.conftest import fuzz_settings

pytestmark = pytest.mark.unit

REF_URL = "/remote.php/dav/files/alice/doc.txt"
OTHER_URL = "/remote.php/dav/files/alice/other.txt"

etag_values = st.text("0123456789abcdef-", min_size=1, max_size=12)
tokens = st.sampled_from(
    ["opaquelocktoken:0xaa", "opaquelocktoken:0xbb", "urn:uuid:1234-5678", "DAV:no-lock"]
)
etag_conditions = st.builds(
    lambda neg, tag, weak: Condition(neg, "etag", ('W/"' if weak else '"') + tag + '"'),
    st.booleans(),
    etag_values,
    st.booleans(),
)
token_conditions = st.builds(lambda neg, tok: Condition(neg, "token", tok), st.booleans(), tokens)
lists = st.lists(etag_conditions | token_conditions, min_size=1, max_size=4).map(tuple)
untagged = st.lists(lists, min_size=1, max_size=3).map(lambda ls: (TaggedLists(None, tuple(ls)),))
tagged = st.lists(
    st.builds(
        lambda res, ls: TaggedLists(res, tuple(ls)),
        st.sampled_from([REF_URL, OTHER_URL]),
        st.lists(lists, min_size=1, max_size=2),
    ),
    min_size=1,
    max_size=3,
).map(tuple)
headers = st.builds(IfHeader, untagged | tagged)


class FakeResource:
    """What WsgiDAV's ``test_if_header_dict`` asks of a resource."""

    def support_etag(self) -> bool:
        return True


def wsgidav_evaluates(header: str, etag: str, held: list[str]) -> bool:
    environ: dict[str, Any] = {"HTTP_IF": header}
    util.parse_if_header_dict(environ)
    return bool(
        util.test_if_header_dict(
            FakeResource(), environ["wsgidav.conditions.if"], REF_URL, held, etag
        )
    )


@fuzz_settings(150)
@given(headers)
def test_render_parse_round_trip(header: IfHeader) -> None:
    assert parse(header.render()) == header


@fuzz_settings(500)
@given(st.text(max_size=200))
def test_parse_accepts_or_refuses_cleanly(text: str) -> None:
    try:
        header = parse(text)
    except IfHeaderError:
        return
    assert parse(header.render()) == header


@fuzz_settings(500)
@given(st.text(alphabet='()<>[]"W/ Not:ab0-', max_size=80))
def test_parse_on_grammar_characters(text: str) -> None:
    """Only IfHeaderError comes out, and what parses renders to a header that parses back the
    same."""
    try:
        header = parse(text)
    except IfHeaderError:
        return
    assert parse(header.render()) == header


@fuzz_settings(200)
@given(headers, etag_values, st.lists(tokens, max_size=2, unique=True))
def test_wsgidav_agrees_on_the_canonical_form(header: IfHeader, etag: str, held: list[str]) -> None:
    ours = evaluate(header, resource=REF_URL, etag=etag, usable_tokens=held)
    assert wsgidav_evaluates(header.render(), etag, held) == ours


@fuzz_settings(200)
@given(st.integers(min_value=1, max_value=200))
def test_condition_budget(n: int) -> None:
    text = "(" + " ".join(["<urn:x>"] * n) + ")"
    if n <= 64:
        assert len(parse(text).tokens()) == n
    else:
        with pytest.raises(IfHeaderError):
            parse(text)


@pytest.mark.parametrize(
    ("text", "etag", "held", "expected"),
    [
        ('(["abc"])', "abc", [], True),
        ('(["abc"])', "abd", [], False),
        ('([W/"abc"])', "abc", [], False),  # strong comparison
        ('(Not ["abc"])', "abc", [], False),
        ("(Not <urn:x>)", "abc", [], True),
        ('(<urn:x>) (["abc"])', "zzz", ["urn:x"], True),
        ('(<urn:x> ["abc"])', "zzz", ["urn:x"], False),
        (f'<{OTHER_URL}> (["nope"])', "abc", [], True),  # lists for other resources: ignored
        (f'<{REF_URL}> (["nope"]) <{OTHER_URL}> (["abc"])', "abc", [], False),
        ("(Not<urn:x>)", "abc", [], True),
    ],
)
def test_evaluate_examples(text: str, etag: str, held: list[str], expected: bool) -> None:
    assert evaluate(parse(text), resource=REF_URL, etag=etag, usable_tokens=held) is expected
