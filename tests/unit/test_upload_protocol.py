"""The pure rules of resumable uploads: chunk names, natural order, ranges, tus headers."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import random
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from davserver.uploads import protocol
from davserver.uploads.errors import (
    AssemblyError,
    ChunkOverlapError,
    InvalidChunkError,
    ProtocolError,
    TusVersionError,
)

pytestmark = pytest.mark.unit


@dataclass(frozen=True)
class FakeChunk:
    name: str
    size: int
    start: int | None
    end: int | None


def ranged(start: int, end: int) -> FakeChunk:
    return FakeChunk(protocol.range_name(start, end), end - start + 1, start, end)


# --------------------------------------------------------------------------- names


@given(st.integers(0, 10**15), st.integers(0, 10**12))
def test_range_name_roundtrip(start: int, size: int) -> None:
    name = protocol.range_name(start, start + size)
    parsed = protocol.parse_chunk_name(name, numbered=False)
    assert (parsed.start, parsed.end, parsed.size) == (start, start + size, size + 1)


def test_rclone_names_parse() -> None:
    parsed = protocol.parse_chunk_name("000000001048576-000000002097151", numbered=False)
    assert (parsed.start, parsed.end, parsed.size) == (1048576, 2097151, 1048576)


@pytest.mark.parametrize(
    "name",
    ["", "abc", "1-", "-1", "5-4", "1-2-3", "\uff10\uff11", "1.5", " 1", "1 ", "x1", "1" * 19],
)
def test_bad_v1_names_refused(name: str) -> None:
    with pytest.raises(InvalidChunkError):
        protocol.parse_chunk_name(name, numbered=False)


@pytest.mark.parametrize("name", ["0", "10001", "1-2", "abc", "", "-3"])
def test_bad_v2_names_refused(name: str) -> None:
    with pytest.raises(InvalidChunkError):
        protocol.parse_chunk_name(name, numbered=True)


@given(st.integers(1, protocol.MAX_V2_CHUNK_NUMBER))
def test_v2_numbers_accepted(n: int) -> None:
    assert protocol.parse_chunk_name(str(n), numbered=True).start is None


@given(st.text(max_size=40))
def test_parse_never_raises_anything_else(name: str) -> None:
    for numbered in (False, True):
        with contextlib.suppress(InvalidChunkError):
            protocol.parse_chunk_name(name, numbered=numbered)


# --------------------------------------------------------------------------- natural order


@given(st.lists(st.integers(1, 10_000), unique=True, min_size=1, max_size=60))
def test_natural_sort_of_unpadded_numbers(numbers: list[int]) -> None:
    names = [str(n) for n in numbers]
    random.Random(len(names)).shuffle(names)
    assert [int(n) for n in sorted(names, key=protocol.natural_key)] == sorted(numbers)


@given(st.lists(st.integers(0, 10**14), unique=True, min_size=1, max_size=30))
def test_natural_sort_of_padded_ranges(starts: list[int]) -> None:
    names = [protocol.range_name(s, s) for s in starts]
    ordered = sorted(names, key=protocol.natural_key)
    assert [protocol.parse_chunk_name(n, numbered=False).start for n in ordered] == sorted(starts)


@given(st.lists(st.text(alphabet="ab01-9", max_size=8), max_size=20))
def test_natural_key_is_a_total_order(names: list[str]) -> None:
    ordered = sorted(names, key=protocol.natural_key)
    assert sorted(ordered, key=protocol.natural_key) == ordered


def test_natural_order_examples() -> None:
    names = ["10", "2", "1", "chunk10", "chunk9"]
    assert sorted(names, key=protocol.natural_key) == ["1", "2", "10", "chunk9", "chunk10"]


# --------------------------------------------------------------------------- ranges


def _partition(total: int, cuts: list[int]) -> list[FakeChunk]:
    points = sorted({c for c in cuts if 0 < c < total})
    bounds = [0, *points, total]
    return [ranged(a, b - 1) for a, b in itertools.pairwise(bounds)]


@given(st.integers(1, 10_000), st.lists(st.integers(1, 9_999), max_size=20), st.randoms())
def test_any_partition_assembles_in_order(total: int, cuts: list[int], rnd: random.Random) -> None:
    chunks = _partition(total, cuts)
    shuffled = chunks[:]
    rnd.shuffle(shuffled)
    assert protocol.plan_assembly(shuffled, total) == chunks
    assert protocol.plan_assembly(shuffled, None) == chunks
    assert protocol.contiguous_end(shuffled) == total


@given(st.integers(2, 10_000), st.lists(st.integers(1, 9_999), min_size=1, max_size=20), st.data())
def test_a_missing_chunk_is_a_gap(total: int, cuts: list[int], data: st.DataObject) -> None:
    chunks = _partition(total, cuts)
    missing = data.draw(st.integers(0, len(chunks) - 1))
    rest = chunks[:missing] + chunks[missing + 1 :]
    if missing == len(chunks) - 1:  # a missing tail: the sum no longer matches
        with pytest.raises(AssemblyError, match="sum up to"):
            protocol.plan_assembly(rest, total)
    else:
        with pytest.raises(AssemblyError, match="missing"):
            protocol.plan_assembly(rest, total)
    assert protocol.contiguous_end(rest) == chunks[missing].start


def test_wrong_total_reported_like_nextcloud() -> None:
    with pytest.raises(AssemblyError, match="do not sum up to 11 but to 10 bytes"):
        protocol.plan_assembly([ranged(0, 4), ranged(5, 9)], 11)


def test_numbered_chunks_sum_up() -> None:
    chunks = [FakeChunk("2", 5, None, None), FakeChunk("10", 1, None, None)]
    assert [c.name for c in protocol.plan_assembly(chunks, 6)] == ["2", "10"]
    with pytest.raises(AssemblyError):
        protocol.plan_assembly(chunks, 7)


def test_empty_upload() -> None:
    assert protocol.plan_assembly([], 0) == []
    assert protocol.plan_assembly([], None) == []
    with pytest.raises(AssemblyError):
        protocol.plan_assembly([], 1)


def test_body_length_must_match_range() -> None:
    chunk = protocol.parse_chunk_name("0-9", numbered=False)
    protocol.check_body_length(chunk, 10)
    protocol.check_body_length(chunk, None)
    with pytest.raises(InvalidChunkError):
        protocol.check_body_length(chunk, 9)


def test_range_outside_total_refused() -> None:
    chunk = protocol.parse_chunk_name("5-10", numbered=False)
    protocol.check_new_chunk(chunk, [], 11)
    with pytest.raises(InvalidChunkError, match="outside"):
        protocol.check_new_chunk(chunk, [], 10)


def test_overlap_and_mixing_refused_resend_allowed() -> None:
    existing = [ranged(0, 9)]
    with pytest.raises(ChunkOverlapError):
        protocol.check_new_chunk(protocol.parse_chunk_name("5-14", numbered=False), existing, None)
    protocol.check_new_chunk(
        protocol.parse_chunk_name(existing[0].name, numbered=False), existing, None
    )
    with pytest.raises(InvalidChunkError, match="not both"):
        protocol.check_new_chunk(protocol.parse_chunk_name("7", numbered=False), existing, None)


class RangeSession(RuleBasedStateMachine):
    """Random chunk PUTs against the range rules, compared with a byte-set model."""

    TOTAL = 64

    def __init__(self) -> None:
        super().__init__()
        self.chunks: dict[str, FakeChunk] = {}

    @rule(start=st.integers(0, 70), size=st.integers(1, 20))
    def put(self, start: int, size: int) -> None:
        new = ranged(start, start + size - 1)
        parsed = protocol.parse_chunk_name(new.name, numbered=False)
        others = [c for c in self.chunks.values() if c.name != new.name]
        mine = set(range(start, start + size))
        overlaps = any(mine & set(range(c.start or 0, (c.end or 0) + 1)) for c in others)
        outside = start + size > self.TOTAL
        try:
            protocol.check_new_chunk(parsed, self.chunks.values(), self.TOTAL)
        except InvalidChunkError:
            assert outside
            return
        except ChunkOverlapError:
            assert overlaps and not outside
            return
        assert not overlaps and not outside
        self.chunks[new.name] = new

    @rule(data=st.data())
    def drop(self, data: st.DataObject) -> None:
        if self.chunks:
            name = data.draw(st.sampled_from(sorted(self.chunks)))
            del self.chunks[name]

    @invariant()
    def assembly_agrees_with_model(self) -> None:
        covered: set[int] = set()
        for c in self.chunks.values():
            covered |= set(range(c.start or 0, (c.end or 0) + 1))
        complete = covered == set(range(self.TOTAL))
        try:
            protocol.plan_assembly(list(self.chunks.values()), self.TOTAL)
            assert complete
        except AssemblyError:
            assert not complete
        prefix = 0
        while prefix in covered:
            prefix += 1
        assert protocol.contiguous_end(self.chunks.values()) == prefix


TestRangeSession = RangeSession.TestCase
TestRangeSession.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)


# --------------------------------------------------------------------------- tus headers


def test_tus_resumable_version() -> None:
    protocol.check_tus_resumable("1.0.0")
    for bad in (None, "0.2.2", ""):
        with pytest.raises(TusVersionError):
            protocol.check_tus_resumable(bad)


@given(
    st.dictionaries(st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True), st.binary(), max_size=5)
)
def test_metadata_roundtrip(metadata: dict[str, bytes]) -> None:
    assert protocol.parse_upload_metadata(protocol.encode_upload_metadata(metadata)) == metadata


def test_metadata_as_rclone_sends_it() -> None:
    raw = (
        "filename c21hbGwudHh0,mtime MTcwNDE2NDY0NQ==,filetype dGV4dC9wbGFpbjsgY2hhcnNldD11dGYtOA=="
    )
    meta = protocol.parse_upload_metadata(raw)
    assert protocol.metadata_text(meta, "filename") == "small.txt"
    assert protocol.parse_mtime_ns(protocol.metadata_text(meta, "mtime") or "", "m") == (
        1704164645 * 10**9
    )


@pytest.mark.parametrize("raw", ["a b c", "a !!!", "a YQ==,a YQ==", "a\tYQ=="])
def test_bad_metadata(raw: str) -> None:
    with pytest.raises(ProtocolError):
        protocol.parse_upload_metadata(raw)


def test_upload_checksum() -> None:
    digest = hashlib.sha1(b"abc").digest()
    value = "sha1 " + base64.b64encode(digest).decode()
    assert protocol.parse_upload_checksum(value) == ("sha1", digest.hex())
    for bad in ("crc32 AAAA", "sha1 !!", "sha1 " + base64.b64encode(b"short").decode(), "sha1"):
        with pytest.raises(ProtocolError):
            protocol.parse_upload_checksum(bad)


@given(st.integers(0, 10**18 - 1))
def test_counts(n: int) -> None:
    assert protocol.parse_count(f" {n} ", "Upload-Length") == n


@pytest.mark.parametrize("raw", ["-1", "1e3", "", "0x10", "1" * 19, "1.0"])
def test_bad_counts(raw: str) -> None:
    with pytest.raises(ProtocolError, match="Upload-Length"):
        protocol.parse_count(raw, "Upload-Length")
