"""``FsView`` lists exactly the names a storage path can address."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from providers.errors import InvalidPathError
from providers.local.fsview import FsView
from providers.paths import is_within

RESERVED = {".davsync-staging", ".state/staging", ".state"}
LONG = "/".join(["p" * 254] * 16)  # 4079 bytes: longer names make the path too long
NAMES = st.text(
    alphabet=st.one_of(
        st.characters(min_codepoint=0x20, max_codepoint=0x7E),
        st.sampled_from(["\u00e9", "\u0301", "\\", "\x01", "\x7f", "\ud800", "\U0001f600"]),
    ),
    min_size=1,
    max_size=40,
).filter(lambda n: "/" not in n)


@settings(max_examples=300, deadline=None)
@given(
    name=st.one_of(NAMES, st.sampled_from([".", "..", ".davsync-staging", ".state", "x" * 256])),
    parent=st.sampled_from(["", "a", "a/b", ".davsync-staging", ".state", ".state/x", LONG]),
)
def test_a_listed_name_is_one_a_storage_path_names_unchanged(name: str, parent: str) -> None:
    view = FsView(Path("/nonexistent"), RESERVED)
    path = f"{parent}/{name}" if parent else name
    try:
        expected: str | None = path if view.storage_path(path) == path else None
    except InvalidPathError:
        expected = None
    if any(is_within(parent, r) for r in RESERVED):
        expected = None  # nothing inside a reserved folder is visible
    assert view.child_path(parent, name) == expected
