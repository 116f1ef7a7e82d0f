"""Preconditions (RFC 9110 section 13) and HTTP dates."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from davserver.http.conditional import (
    EntityTag,
    Outcome,
    evaluate,
    http_date,
    if_range_allows,
    is_wildcard,
    parse_etag_list,
    parse_http_date,
)

pytestmark = pytest.mark.unit

PROPERTY = settings(database=None, deadline=None, max_examples=300)

RFC_EXAMPLE_S = 784111777  # Sun, 06 Nov 1994 08:49:37 GMT
IMF = "Sun, 06 Nov 1994 08:49:37 GMT"
EARLIER = "Sun, 06 Nov 1994 08:49:36 GMT"
LATER = "Sun, 06 Nov 1994 08:49:38 GMT"
NOW_2024 = 1_718_000_000  # June 2024
ETAG = "abc123"


def run(
    method: str,
    headers: dict[str, str],
    etag: str | None = ETAG,
    mtime: int | None = RFC_EXAMPLE_S,
    now_s: float | None = None,
) -> Outcome:
    return evaluate(method, headers, etag, mtime, now_s)


# --- HTTP dates -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994",
        "  Sun, 06 Nov 1994 08:49:37 GMT  ",
        "sun, 06 nov 1994 08:49:37 gmt",
    ],
)
def test_parse_http_date_accepts_the_three_rfc_forms(text: str) -> None:
    assert parse_http_date(text, now_s=NOW_2024) == RFC_EXAMPLE_S


@pytest.mark.parametrize(
    "text",
    [
        "",
        "yesterday",
        "Sun, 06 Nov 1994 08:49:37 UTC",
        "Sun, 06 Nov 1994 08:49:37 +0000",
        "Sun, 6 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 94 08:49:37 GMT",
        "Sun, 31 Feb 1994 08:49:37 GMT",
        "Sun, 00 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Nov 1994 08:60:00 GMT",
        "Sun, 06 Nov 0000 08:49:37 GMT",
        "Sun, 06 Foo 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT",
        "Sun Nov 06 08:49:37 1994 GMT",
        "784111777",
        "Sun, 06 Nov 1994 08:49:37 GMT\n",
        "Sun, \u0660\u0666 Nov 1994 08:49:37 GMT",
    ],
)
def test_parse_http_date_rejects_invalid_dates(text: str) -> None:
    assert parse_http_date(text) is None


def test_parse_http_date_accepts_a_leap_second_and_feb_29() -> None:
    assert parse_http_date("Sat, 31 Dec 2016 23:59:60 GMT") == 1483228800
    assert parse_http_date("Thu, 29 Feb 2024 00:00:00 GMT") == 1709164800
    assert parse_http_date("Thu, 29 Feb 2023 00:00:00 GMT") is None


def test_rfc850_two_digit_years_within_50_years_are_in_this_century() -> None:
    assert parse_http_date("Sunday, 06-Nov-70 08:49:37 GMT", now_s=NOW_2024) == parse_http_date(
        "Sun, 06 Nov 2070 08:49:37 GMT"
    )
    assert parse_http_date("Sunday, 06-Nov-24 08:49:37 GMT", now_s=NOW_2024) == parse_http_date(
        "Sun, 06 Nov 2024 08:49:37 GMT"
    )
    assert parse_http_date("Sunday, 06-Nov-75 08:49:37 GMT", now_s=NOW_2024) == parse_http_date(
        "Sun, 06 Nov 1975 08:49:37 GMT"
    )


def test_http_date_formats_imf_fixdate() -> None:
    assert http_date(RFC_EXAMPLE_S) == IMF
    assert http_date(RFC_EXAMPLE_S + 0.999) == IMF
    assert http_date(0) == "Thu, 01 Jan 1970 00:00:00 GMT"
    assert http_date(253402300799) == "Fri, 31 Dec 9999 23:59:59 GMT"


@pytest.mark.parametrize("ts", [math.nan, math.inf, -math.inf, 253402300800, -62135596801, 1e300])
def test_http_date_rejects_unrepresentable_timestamps(ts: float) -> None:
    with pytest.raises(ValueError):
        http_date(ts)


@PROPERTY
@given(st.integers(min_value=-62135596800, max_value=253402300799))
def test_http_date_round_trips(ts: int) -> None:
    assert parse_http_date(http_date(ts)) == ts


@PROPERTY
@given(st.text())
def test_parse_http_date_never_raises(text: str) -> None:
    result = parse_http_date(text)
    assert result is None or isinstance(result, int)


# --- entity tags -----------------------------------------------------------------------


def test_parse_etag_list_rfc_examples() -> None:
    assert parse_etag_list('"xyzzy"') == [EntityTag("xyzzy")]
    assert parse_etag_list('"xyzzy", "r2d2xxxx", "c3piozzzz"') == [
        EntityTag("xyzzy"),
        EntityTag("r2d2xxxx"),
        EntityTag("c3piozzzz"),
    ]
    assert parse_etag_list('W/"xyzzy", W/"r2d2xxxx"') == [
        EntityTag("xyzzy", weak=True),
        EntityTag("r2d2xxxx", weak=True),
    ]
    assert parse_etag_list('""') == [EntityTag("")]


def test_parse_etag_list_leniency_and_garbage() -> None:
    assert parse_etag_list('"a,b", "c"') == [EntityTag("a,b"), EntityTag("c")]
    assert parse_etag_list("abc") == [EntityTag("abc")]
    assert parse_etag_list(' , ,"a" ,,') == [EntityTag("a")]
    assert parse_etag_list('"a"junk, "b"') == [EntityTag("b")]
    assert parse_etag_list('w/"a"') == []
    assert parse_etag_list('"unterminated') == []
    assert parse_etag_list("") == []


def test_is_wildcard() -> None:
    assert is_wildcard("*")
    assert is_wildcard(" * ")
    assert not is_wildcard('"*"')
    assert not is_wildcard('*, "a"')


@pytest.mark.parametrize(
    ("tag", "strong", "weak"),
    [
        # RFC 9110 8.8.3.2, with the second tag being the server's strong tag "1".
        (EntityTag("1", weak=True), False, True),
        (EntityTag("1"), True, True),
        (EntityTag("2"), False, False),
        (EntityTag("2", weak=True), False, False),
    ],
)
def test_comparison_functions(tag: EntityTag, strong: bool, weak: bool) -> None:
    assert tag.strong_match("1") is strong
    assert tag.weak_match("1") is weak


# --- evaluate: If-Match and If-Unmodified-Since ------------------------------------------


def test_no_preconditions_proceed() -> None:
    for method in ("GET", "HEAD", "PUT", "DELETE", "MOVE"):
        assert run(method, {}) is Outcome.PROCEED
        assert run(method, {}, etag=None) is Outcome.PROCEED


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (f'"{ETAG}"', Outcome.PROCEED),
        (f'"other", "{ETAG}"', Outcome.PROCEED),
        (f"{ETAG}", Outcome.PROCEED),
        (f'W/"{ETAG}"', Outcome.PRECONDITION_FAILED),
        ('"other"', Outcome.PRECONDITION_FAILED),
        ("*", Outcome.PROCEED),
        ("", Outcome.PRECONDITION_FAILED),
        ('"abc123', Outcome.PRECONDITION_FAILED),
    ],
)
def test_if_match(value: str, expected: Outcome) -> None:
    assert run("PUT", {"if-match": value}) is expected
    assert run("GET", {"if-match": value}) is expected


@pytest.mark.parametrize("value", ["*", f'"{ETAG}"'])
def test_if_match_fails_when_resource_does_not_exist(value: str) -> None:
    assert run("PUT", {"if-match": value}, etag=None) is Outcome.PRECONDITION_FAILED


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        (IMF, Outcome.PROCEED),
        (LATER, Outcome.PROCEED),
        (EARLIER, Outcome.PRECONDITION_FAILED),
        ("not a date", Outcome.PROCEED),
    ],
)
def test_if_unmodified_since(date: str, expected: Outcome) -> None:
    assert run("PUT", {"if-unmodified-since": date}) is expected
    assert run("GET", {"if-unmodified-since": date}) is expected


def test_if_unmodified_since_ignored_without_a_modification_time() -> None:
    headers = {"if-unmodified-since": EARLIER}
    assert run("PUT", headers, mtime=None) is Outcome.PROCEED
    assert run("PUT", headers, etag=None) is Outcome.PROCEED


def test_if_match_takes_precedence_over_if_unmodified_since() -> None:
    headers = {"if-match": f'"{ETAG}"', "if-unmodified-since": EARLIER}
    assert run("PUT", headers) is Outcome.PROCEED
    headers = {"if-match": '"other"', "if-unmodified-since": LATER}
    assert run("PUT", headers) is Outcome.PRECONDITION_FAILED


# --- evaluate: If-None-Match and If-Modified-Since ---------------------------------------


@pytest.mark.parametrize(
    ("value", "matches"),
    [
        (f'"{ETAG}"', True),
        (f'W/"{ETAG}"', True),
        (f'"x", W/"y", "{ETAG}"', True),
        ("*", True),
        ('"other"', False),
        (f'W/"{ETAG}x"', False),
        ("", False),
        ("garbage,,", False),
    ],
)
def test_if_none_match(value: str, matches: bool) -> None:
    headers = {"if-none-match": value}
    for method in ("GET", "HEAD"):
        assert run(method, headers) is (Outcome.NOT_MODIFIED if matches else Outcome.PROCEED)
    for method in ("PUT", "DELETE", "POST"):
        failed = Outcome.PRECONDITION_FAILED
        assert run(method, headers) is (failed if matches else Outcome.PROCEED)


def test_if_none_match_star_proceeds_when_resource_does_not_exist() -> None:
    assert run("PUT", {"if-none-match": "*"}, etag=None) is Outcome.PROCEED
    assert run("GET", {"if-none-match": "*"}, etag=None) is Outcome.PROCEED
    assert run("PUT", {"if-none-match": f'"{ETAG}"'}, etag=None) is Outcome.PROCEED


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        (IMF, Outcome.NOT_MODIFIED),  # equal dates: not modified
        (LATER, Outcome.NOT_MODIFIED),
        (EARLIER, Outcome.PROCEED),
        ("Sunday, 06-Nov-94 08:49:37 GMT", Outcome.NOT_MODIFIED),
        ("Sun Nov  6 08:49:37 1994", Outcome.NOT_MODIFIED),
        ("garbage", Outcome.PROCEED),
        ("", Outcome.PROCEED),
    ],
)
def test_if_modified_since(date: str, expected: Outcome) -> None:
    headers = {"if-modified-since": date}
    assert run("GET", headers, now_s=NOW_2024) is expected
    assert run("HEAD", headers, now_s=NOW_2024) is expected


def test_if_modified_since_only_applies_to_get_and_head() -> None:
    headers = {"if-modified-since": LATER}
    for method in ("PUT", "DELETE", "POST", "PROPFIND", "get"):
        assert run(method, headers) is Outcome.PROCEED


def test_if_modified_since_in_the_future_is_ignored_when_now_is_known() -> None:
    headers = {"if-modified-since": LATER}
    assert run("GET", headers, now_s=RFC_EXAMPLE_S) is Outcome.PROCEED
    assert run("GET", headers, now_s=RFC_EXAMPLE_S + 1) is Outcome.NOT_MODIFIED
    assert run("GET", headers) is Outcome.NOT_MODIFIED


def test_if_modified_since_ignored_without_modification_time() -> None:
    headers = {"if-modified-since": LATER}
    assert run("GET", headers, mtime=None) is Outcome.PROCEED
    assert run("GET", headers, etag=None) is Outcome.PROCEED


def test_if_none_match_takes_precedence_over_if_modified_since() -> None:
    headers = {"if-none-match": '"other"', "if-modified-since": LATER}
    assert run("GET", headers) is Outcome.PROCEED
    headers = {"if-none-match": f'"{ETAG}"', "if-modified-since": EARLIER}
    assert run("GET", headers) is Outcome.NOT_MODIFIED


def test_write_preconditions_are_evaluated_first() -> None:
    headers = {"if-match": '"other"', "if-none-match": f'"{ETAG}"'}
    assert run("GET", headers) is Outcome.PRECONDITION_FAILED
    headers = {"if-unmodified-since": EARLIER, "if-modified-since": LATER}
    assert run("GET", headers) is Outcome.PRECONDITION_FAILED
    headers = {"if-match": f'"{ETAG}"', "if-none-match": f'"{ETAG}"'}
    assert run("GET", headers) is Outcome.NOT_MODIFIED


def test_methods_are_case_sensitive() -> None:
    assert run("get", {"if-none-match": "*"}) is Outcome.PRECONDITION_FAILED


@pytest.mark.parametrize(
    "name", ["If-None-Match", "if-none-match", "IF-NONE-MATCH", "iF-nOnE-mAtCh"]
)
def test_header_lookup_is_case_insensitive(name: str) -> None:
    assert run("GET", {name: "*"}) is Outcome.NOT_MODIFIED


def test_outcome_status() -> None:
    assert Outcome.PROCEED.status is None
    assert Outcome.NOT_MODIFIED.status == 304
    assert Outcome.PRECONDITION_FAILED.status == 412


# --- If-Range ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, True),
        (f'"{ETAG}"', True),
        (f' "{ETAG}" ', True),
        (f'W/"{ETAG}"', False),
        ('"other"', False),
        (f'"{ETAG}", "x"', False),
        (ETAG, False),
        (IMF, True),
        ("Sunday, 06-Nov-94 08:49:37 GMT", True),
        (EARLIER, False),
        (LATER, False),
        ("garbage", False),
        ("", False),
    ],
)
def test_if_range_allows(value: str | None, expected: bool) -> None:
    assert if_range_allows(value, ETAG, RFC_EXAMPLE_S) is expected


def test_if_range_without_validators() -> None:
    assert if_range_allows(f'"{ETAG}"', None, RFC_EXAMPLE_S) is False
    assert if_range_allows(IMF, ETAG, None) is False
    assert if_range_allows(None, None, None) is True


# --- properties --------------------------------------------------------------------------

HEADER_NAMES = ["If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since"]
header_text = st.one_of(
    st.text(),
    st.text(alphabet='W/"*, \t;abc0123456789-:GMTSunNov'),
    st.sampled_from([IMF, EARLIER, LATER, "*", f'"{ETAG}"', f'W/"{ETAG}"']),
)
etags = st.one_of(st.none(), st.text(alphabet=st.characters(blacklist_characters='"')))


@PROPERTY
@given(
    method=st.sampled_from(["GET", "HEAD", "PUT", "DELETE", "PROPFIND", "get", ""]),
    headers=st.dictionaries(st.sampled_from(HEADER_NAMES), header_text),
    etag=etags,
    mtime=st.one_of(st.none(), st.integers(min_value=-(2**40), max_value=2**40)),
    now=st.one_of(st.none(), st.floats(min_value=0, max_value=2**34)),
)
def test_evaluate_never_raises(
    method: str, headers: dict[str, str], etag: str | None, mtime: int | None, now: float | None
) -> None:
    assert isinstance(evaluate(method, headers, etag, mtime, now), Outcome)


@PROPERTY
@given(
    etag=st.text(alphabet=st.characters(blacklist_characters='"', blacklist_categories=["Cs"])),
    others=st.lists(st.text(alphabet="abcdefghij0123456789").map(lambda s: f'"x{s}"')),
    position=st.integers(min_value=0),
)
def test_if_match_with_the_current_tag_in_any_list_position_proceeds(
    etag: str, others: list[str], position: int
) -> None:
    members = list(others)
    members.insert(position % (len(members) + 1), f'"{etag}"')
    headers = {"if-match": ", ".join(members)}
    assert evaluate("PUT", headers, etag, 0) is Outcome.PROCEED
    assert evaluate("PUT", {"if-none-match": ", ".join(members)}, etag, 0) is (
        Outcome.PRECONDITION_FAILED
    )


@PROPERTY
@given(st.text(), st.text(), st.one_of(st.none(), st.integers()))
def test_if_range_never_raises(value: str, etag: str, mtime: int | None) -> None:
    assert isinstance(if_range_allows(value, etag, mtime), bool)
