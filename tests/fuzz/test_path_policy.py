"""Properties of the path policy (``providers/paths.py``) and of the URL space over it."""

from __future__ import annotations

import unicodedata
from pathlib import PurePosixPath
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from davserver.namespace import resolve
from providers.errors import ConflictError, InvalidPathError
from providers.paths import (
    MAX_SEGMENT_BYTES,
    PathPolicy,
    case_key,
    decode_url_path,
    is_within,
    join,
    normalize,
    windows_name_problem,
)
from tests.fuzz.conftest import fuzz_settings

pytestmark = pytest.mark.unit

names = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="/\\\x00"),
    min_size=1,
    max_size=40,
).filter(lambda s: s not in (".", "..") and not any(ord(c) < 0x20 or ord(c) == 0x7F for c in s))
raw_paths = st.text(max_size=120) | st.lists(names, max_size=6).map("/".join)
wire = st.text(st.characters(max_codepoint=0xFF), max_size=120)


@fuzz_settings(200)
@given(raw_paths)
def test_normalize_accepts_or_refuses_cleanly(raw: str) -> None:
    try:
        path = normalize(raw)
    except InvalidPathError:
        return
    assert normalize(path) == path  # idempotent
    if path:
        for segment in path.split("/"):
            assert segment not in ("", ".", "..")
            assert "\\" not in segment and "\x00" not in segment
            assert not any(ord(c) < 0x20 or ord(c) == 0x7F for c in segment)
            assert len(segment.encode("utf-8")) <= MAX_SEGMENT_BYTES
            assert unicodedata.is_normalized("NFC", segment)
    # it can never leave the root it is joined to
    root = PurePosixPath("/srv/root")
    assert (root / path).is_relative_to(root) and ".." not in (root / path).parts


@fuzz_settings(150)
@given(st.lists(names, min_size=1, max_size=6))
def test_percent_encoded_names_decode_to_themselves(segments: list[str]) -> None:
    raw = "/" + "/".join(quote(s.encode("utf-8"), safe="") for s in segments)
    assert decode_url_path(raw) == "/" + "/".join(segments)


@fuzz_settings(200)
@given(wire)
def test_decode_url_path_accepts_or_refuses_cleanly(raw: str) -> None:
    try:
        text = decode_url_path(raw)
    except InvalidPathError:
        return
    assert "%2f" not in raw.lower() and "%5c" not in raw.lower()
    assert not any(ord(c) < 0x20 or ord(c) == 0x7F for c in text)
    assert all(seg not in (".", "..") for seg in text.split("/"))
    try:
        loc = resolve(text)
    except InvalidPathError:
        return
    if loc.kind == "home":
        assert loc.storage_path.split("/", 1)[0] == loc.home
        assert is_within(loc.storage_path, loc.home)


@fuzz_settings(150)
@given(wire, st.sampled_from(["%2F", "%2f", "%5C", "%5c"]), wire)
def test_encoded_separators_always_refused(before: str, separator: str, after: str) -> None:
    with pytest.raises(InvalidPathError):
        decode_url_path(before + separator + after)


@fuzz_settings(150)
@given(st.lists(names, max_size=4), names)
def test_join_matches_normalize(parents: list[str], name: str) -> None:
    try:
        parent = normalize("/".join(parents))
        joined = join(parent, name)
    except InvalidPathError:
        return
    assert joined == normalize(parent + "/" + name)
    assert is_within(joined, parent)


@fuzz_settings(150)
@given(names, st.lists(names, max_size=5))
def test_default_policy_accepts_every_valid_name(name: str, siblings: list[str]) -> None:
    PathPolicy().check_new_name(name, siblings)


@fuzz_settings(150)
@given(names, st.lists(names, max_size=5))
def test_windows_policy(name: str, siblings: list[str]) -> None:
    policy = PathPolicy(windows_compatible=True)
    problem = windows_name_problem(name)
    clash = any(s != name and case_key(s) == case_key(name) for s in siblings)
    if problem is not None:
        with pytest.raises(InvalidPathError):
            policy.check_new_name(name, siblings)
    elif clash:
        with pytest.raises(ConflictError):
            policy.check_new_name(name, siblings)
    else:
        policy.check_new_name(name, siblings)
    for sibling in siblings:  # names that clash share a commit lock
        if case_key(sibling) == case_key(name):
            assert policy.lock_key(sibling) == policy.lock_key(name)


@pytest.mark.parametrize(
    "name",
    [
        "CON",
        "con",
        "Con.txt",
        "nul",
        "NUL.tar.gz",
        "aux",
        "prn.log",
        "COM1",
        "lpt9.x",
        "com\u00b9",
        "CONIN$",
        "a.",
        "a ",
        "a:b",
        "a*b",
        "a?b",
        'a"b',
        "a<b",
        "a>b",
        "a|b",
    ],
)
def test_windows_names_refused_when_portable(name: str) -> None:
    assert windows_name_problem(name) is not None
    with pytest.raises(InvalidPathError):
        PathPolicy(windows_compatible=True).check_new_name(name)
    PathPolicy().check_new_name(name)


@pytest.mark.parametrize(
    "name", ["console", "CONx", "com10", "nul_", "auxiliary.txt", "a.b", ".hidden"]
)
def test_windows_lookalikes_allowed(name: str) -> None:
    assert windows_name_problem(name) is None


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("/a%2Fb", "separator"),
        ("/a%5cb", "separator"),
        ("/%2e%2e/x", "dot"),
        ("/a/./b", "dot"),
        ("/a%00", "control"),
        ("/a%ff", "UTF-8"),
        ("/a%c0%af", "UTF-8"),
        ("/a%ed%a0%80", "UTF-8"),
        ("/a%g0", "percent"),
        ("/a%", "percent"),
    ],
)
def test_decode_url_path_refusals(raw: str, reason: str) -> None:
    with pytest.raises(InvalidPathError, match=reason):
        decode_url_path(raw)


def test_nfd_and_nfc_are_one_name() -> None:
    assert normalize("e\u0301.txt") == normalize("\u00e9.txt") == "\u00e9.txt"
    assert decode_url_path("/e%CC%81") == "/e\u0301"
