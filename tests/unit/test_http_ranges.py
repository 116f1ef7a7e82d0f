"""Range requests (RFC 9110 sections 14.1 to 14.4) and multipart/byteranges bodies."""

from __future__ import annotations

import email
import email.policy
import itertools
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from davserver.http.ranges import (
    MAX_RANGES,
    MultipartPlan,
    Part,
    RangeKind,
    RangeResult,
    content_range,
    multipart_byteranges,
    new_boundary,
    parse_range,
    stream_multipart,
    unsatisfiable_content_range,
)

pytestmark = pytest.mark.unit

PROPERTY = settings(database=None, deadline=None, max_examples=300)
IGNORE = RangeResult(RangeKind.IGNORE)
UNSATISFIABLE = RangeResult(RangeKind.UNSATISFIABLE)


def satisfiable(*ranges: tuple[int, int]) -> RangeResult:
    return RangeResult(RangeKind.SATISFIABLE, tuple(ranges))


# --- parse_range -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        # RFC 9110 14.1.2 examples for a 10000-byte representation.
        ("bytes=0-499", satisfiable((0, 499))),
        ("bytes=500-999", satisfiable((500, 999))),
        ("bytes=-500", satisfiable((9500, 9999))),
        ("bytes=9500-", satisfiable((9500, 9999))),
        ("bytes=0-0,-1", satisfiable((0, 0), (9999, 9999))),
        ("bytes= 0-999, 4500-5499, -1000", satisfiable((0, 999), (4500, 5499), (9000, 9999))),
        ("bytes=500-600,601-999", satisfiable((500, 999))),
        ("bytes=500-700,601-999", satisfiable((500, 999))),
    ],
)
def test_rfc_examples(header: str, expected: RangeResult) -> None:
    assert parse_range(header, 10000) == expected


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "bytes",
        "bytes=",
        "bytes=,",
        "bytes=-",
        "bytes=abc",
        "bytes=5-1",
        "bytes=0-1,5-1",
        "bytes=0-1,x",
        "bytes=0-1-2",
        "bytes=+1-2",
        "bytes=1 - 2",
        "bytes==0-1",
        "items=0-1",
        "bits=0-1",
        "0-1",
        "bytes=\u0660-\u0661",
        "bytes=0x10-0x20",
    ],
)
def test_invalid_or_foreign_range_fields_are_ignored(header: str | None) -> None:
    assert parse_range(header, 10000) == IGNORE


def test_unit_is_case_insensitive_and_empty_members_are_skipped() -> None:
    assert parse_range("BYTES=0-1", 100) == satisfiable((0, 1))
    assert parse_range(" Bytes = 0-1 ,, ,5-6, ", 100) == satisfiable((0, 1), (5, 6))


@pytest.mark.parametrize(
    "header",
    [
        "bytes=100-",
        "bytes=100-200",
        "bytes=-0",
        "bytes=100-,-0,500-600",
        "bytes=" + "9" * 5000 + "-",
    ],
)
def test_unsatisfiable(header: str) -> None:
    assert parse_range(header, 100) == UNSATISFIABLE


def test_unsatisfiable_specs_are_dropped_when_others_are_satisfiable() -> None:
    assert parse_range("bytes=200-300,0-1,-0", 100) == satisfiable((0, 1))


def test_ends_are_clamped() -> None:
    assert parse_range("bytes=0-999999", 100) == satisfiable((0, 99))
    assert parse_range("bytes=-500", 100) == satisfiable((0, 99))
    assert parse_range("bytes=99-", 100) == satisfiable((99, 99))
    assert parse_range("bytes=0-" + "9" * 5000, 100) == satisfiable((0, 99))
    assert parse_range("bytes=-" + "9" * 5000, 100) == satisfiable((0, 99))
    assert parse_range("bytes=0005-00010", 100) == satisfiable((5, 10))


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-", UNSATISFIABLE),
        ("bytes=0-0", UNSATISFIABLE),
        ("bytes=-0", UNSATISFIABLE),
        ("bytes=-5", IGNORE),
        ("bytes=0-0,-1", IGNORE),
        ("bytes=5-1", IGNORE),
        ("garbage", IGNORE),
        (None, IGNORE),
    ],
)
def test_empty_representation(header: str | None, expected: RangeResult) -> None:
    assert parse_range(header, 0) == expected


def test_too_many_ranges_are_ignored() -> None:
    specs = [f"{2 * i}-{2 * i}" for i in range(MAX_RANGES)]
    result = parse_range("bytes=" + ",".join(specs), 10000)
    assert result.kind is RangeKind.SATISFIABLE
    assert len(result.ranges) == MAX_RANGES
    assert parse_range("bytes=" + ",".join([*specs, "500-501"]), 10000) == IGNORE
    assert parse_range("bytes=" + ",".join(["0-"] * (MAX_RANGES + 1)), 10000) == IGNORE


def test_repeated_and_overlapping_ranges_are_coalesced() -> None:
    assert parse_range("bytes=0-,0-,0-", 50) == satisfiable((0, 49))
    assert parse_range("bytes=" + ",".join(["-10"] * MAX_RANGES), 50) == satisfiable((40, 49))
    assert parse_range("bytes=0-9,10-19", 50) == satisfiable((0, 19))
    assert parse_range("bytes=0-9,11-19", 50) == satisfiable((0, 9), (11, 19))


def test_client_order_is_kept_for_disjoint_ranges() -> None:
    assert parse_range("bytes=50-59,0-9", 100) == satisfiable((50, 59), (0, 9))
    assert parse_range("bytes=50-59,0-9,55-70", 100) == satisfiable((50, 70), (0, 9))
    assert parse_range("bytes=80-89,0-9,20-29,5-25", 100) == satisfiable((80, 89), (0, 29))


def test_is_multipart() -> None:
    assert not parse_range("bytes=0-1", 10).is_multipart
    assert parse_range("bytes=0-1,5-6", 10).is_multipart
    assert not IGNORE.is_multipart


def test_negative_size_is_an_error() -> None:
    with pytest.raises(ValueError):
        parse_range("bytes=0-1", -1)


# --- Content-Range -----------------------------------------------------------------------


def test_content_range_values() -> None:
    assert content_range(0, 499, 1234) == "bytes 0-499/1234"
    assert content_range(1233, 1233, 1234) == "bytes 1233-1233/1234"
    assert unsatisfiable_content_range(1234) == "bytes */1234"
    assert unsatisfiable_content_range(0) == "bytes */0"


@pytest.mark.parametrize(
    ("start", "end", "size"), [(5, 4, 10), (-1, 3, 10), (0, 10, 10), (0, 0, 0)]
)
def test_content_range_rejects_ranges_outside_the_representation(
    start: int, end: int, size: int
) -> None:
    with pytest.raises(ValueError):
        content_range(start, end, size)


# --- multipart/byteranges ----------------------------------------------------------------

DATA = bytes(range(256)) * 4


def assemble(plan: MultipartPlan, data: bytes) -> bytes:
    return b"".join(stream_multipart(plan.parts, lambda start, end: [data[start : end + 1]]))


def test_multipart_layout() -> None:
    plan = multipart_byteranges([(0, 1), (5, 9)], 10, "text/plain", "THIS_STRING_SEPARATES")
    assert plan.content_type == "multipart/byteranges; boundary=THIS_STRING_SEPARATES"
    body = assemble(plan, b"0123456789")
    assert body == (
        b"--THIS_STRING_SEPARATES\r\n"
        b"Content-Type: text/plain\r\n"
        b"Content-Range: bytes 0-1/10\r\n"
        b"\r\n"
        b"01\r\n"
        b"--THIS_STRING_SEPARATES\r\n"
        b"Content-Type: text/plain\r\n"
        b"Content-Range: bytes 5-9/10\r\n"
        b"\r\n"
        b"56789\r\n"
        b"--THIS_STRING_SEPARATES--\r\n"
    )
    assert plan.content_length == len(body)
    assert plan.parts[-1] == Part(b"\r\n--THIS_STRING_SEPARATES--\r\n", 0, -1)
    assert plan.parts[-1].length == 0


def test_multipart_without_content_type() -> None:
    plan = multipart_byteranges([(0, 0)], 1, None, "b")
    assert b"Content-Type" not in plan.parts[0].header
    assert multipart_byteranges([(0, 0)], 1, "", "b") == plan


def test_multipart_body_parses_as_mime() -> None:
    data = b"".join(b"line %04d\n" % i for i in range(200))
    ranges = [(0, 99), (500, 899), (1990, 1999)]
    plan = multipart_byteranges(ranges, len(data), "text/csv; charset=utf-8", new_boundary())
    body = assemble(plan, data)
    message = email.message_from_bytes(
        f"Content-Type: {plan.content_type}\r\n\r\n".encode() + body, policy=email.policy.HTTP
    )
    parts = list(message.iter_parts())
    assert len(parts) == len(ranges)
    for part, (start, end) in zip(parts, ranges, strict=True):
        assert part["Content-Range"] == f"bytes {start}-{end}/{len(data)}"
        assert part.get_content_type() == "text/csv"
        assert part.get_payload(decode=True) == data[start : end + 1]


def test_stream_multipart_does_not_read_for_the_closing_part() -> None:
    calls: list[tuple[int, int]] = []

    def read(start: int, end: int) -> list[bytes]:
        calls.append((start, end))
        return [b"x" * (end - start + 1)]

    plan = multipart_byteranges([(3, 4), (0, 0)], 5, "a/b", "q")
    list(stream_multipart(plan.parts, read))
    assert calls == [(3, 4), (0, 0)]


@pytest.mark.parametrize(
    ("ranges", "size", "content_type", "boundary"),
    [
        ([], 10, "text/plain", "b"),
        ([(0, 10)], 10, "text/plain", "b"),
        ([(5, 4)], 10, "text/plain", "b"),
        ([(-1, 4)], 10, "text/plain", "b"),
        ([(0, 1)], 10, "text/plain", ""),
        ([(0, 1)], 10, "text/plain", "x" * 71),
        ([(0, 1)], 10, "text/plain", "has space"),
        ([(0, 1)], 10, "text/plain", "semi;colon"),
        ([(0, 1)], 10, "text/plain\r\nX-Evil: 1", "b"),
        ([(0, 1)], 10, "text/plain\x00", "b"),
        ([(0, 1)], 10, "text/\u2603", "b"),
    ],
)
def test_multipart_rejects_bad_arguments(
    ranges: list[tuple[int, int]], size: int, content_type: str, boundary: str
) -> None:
    with pytest.raises(ValueError):
        multipart_byteranges(ranges, size, content_type, boundary)


def test_new_boundary_is_valid_and_fresh() -> None:
    boundaries = {new_boundary() for _ in range(100)}
    assert len(boundaries) == 100
    for boundary in boundaries:
        assert re.fullmatch(r"[0-9a-f]{32}", boundary)
        multipart_byteranges([(0, 0)], 1, "a/b", boundary)


# --- properties --------------------------------------------------------------------------

range_text = st.one_of(
    st.text(),
    st.text(alphabet="bytes=0123456789-, \t").map(lambda s: "bytes=" + s),
    st.lists(
        st.tuples(
            st.one_of(st.none(), st.integers(0, 300)), st.one_of(st.none(), st.integers(0, 300))
        ),
        min_size=1,
        max_size=8,
    ).map(
        lambda specs: (
            "bytes="
            + ",".join(f"{'' if a is None else a}-{'' if b is None else b}" for a, b in specs)
        )
    ),
)


@PROPERTY
@given(header=range_text, size=st.integers(min_value=0, max_value=400))
def test_parse_range_stays_inside_the_representation(header: str, size: int) -> None:
    result = parse_range(header, size)
    if result.kind is not RangeKind.SATISFIABLE:
        assert result.ranges == ()
        return
    assert 1 <= len(result.ranges) <= MAX_RANGES
    for start, end in result.ranges:
        assert 0 <= start <= end <= size - 1
    ordered = sorted(result.ranges)
    for (_, end), (start, _) in itertools.pairwise(ordered):
        assert end + 1 < start  # neither overlapping nor adjacent


def covered_bytes(specs: list[tuple[int | None, int | None]], size: int) -> set[int]:
    """Naive model: the byte offsets the specs select (suffix: (None, n))."""
    covered: set[int] = set()
    for first, last in specs:
        if first is None:
            covered.update(range(max(0, size - (last or 0)), size))
        else:
            covered.update(range(first, size if last is None else min(last + 1, size)))
    return covered


valid_specs = st.lists(
    st.one_of(
        st.tuples(st.none(), st.integers(0, 120)),
        st.tuples(st.integers(0, 120), st.none()),
        st.integers(0, 120).flatmap(lambda a: st.tuples(st.just(a), st.integers(a, 130))),
    ),
    min_size=1,
    max_size=MAX_RANGES,
)


@PROPERTY
@given(specs=valid_specs, size=st.integers(min_value=1, max_value=100))
def test_parse_range_selects_exactly_the_requested_bytes(
    specs: list[tuple[int | None, int | None]], size: int
) -> None:
    header = "bytes=" + ",".join(
        f"{'' if a is None else a}-{'' if b is None else b}" for a, b in specs
    )
    result = parse_range(header, size)
    expected = covered_bytes(specs, size)
    if not expected:
        assert result == UNSATISFIABLE
        return
    assert result.kind is RangeKind.SATISFIABLE
    selected = [i for start, end in result.ranges for i in range(start, end + 1)]
    assert len(selected) == len(set(selected))
    assert set(selected) == expected


@PROPERTY
@given(
    data=st.data(),
    size=st.integers(min_value=1, max_value=5000),
    content_type=st.one_of(
        st.none(), st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF))
    ),
)
def test_multipart_length_is_exact(
    data: st.DataObject, size: int, content_type: str | None
) -> None:
    ranges = data.draw(
        st.lists(
            st.integers(0, size - 1).flatmap(
                lambda a: st.tuples(st.just(a), st.integers(a, size - 1))
            ),
            min_size=1,
            max_size=20,
        )
    )
    if content_type is not None and "\x7f" in content_type:
        content_type = content_type.replace("\x7f", "")
    payload = bytes(i % 251 for i in range(size))
    plan = multipart_byteranges(ranges, size, content_type, new_boundary())
    body = assemble(plan, payload)
    assert plan.content_length == len(body)
    assert body.endswith(plan.parts[-1].header)


@PROPERTY
@given(st.text(), st.integers(min_value=0, max_value=2**64))
def test_parse_range_never_raises(header: str, size: int) -> None:
    assert isinstance(parse_range(header, size), RangeResult)
