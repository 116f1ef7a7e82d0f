"""Checks of what a client announced (length, digests) against what arrived."""

from __future__ import annotations

from collections.abc import Mapping

from providers.errors import ChecksumMismatchError, SizeMismatchError
from providers.hashing import ALGORITHMS, Digests, normalize_algorithm


def check_expectations(
    size: int,
    digests: Digests,
    expected_size: int | None,
    expected_digests: Mapping[str, str] | None,
) -> None:
    """Raise SizeMismatchError if ``expected_size`` differs from ``size``, then
    ChecksumMismatchError (naming the algorithm as given, the expected and the actual hex) on
    the first declared digest that differs. Hex comparison ignores case and surrounding
    blanks; algorithms that are not kept (anything but MD5, SHA-1, SHA-256) are ignored, so
    the caller decides whether such a declaration is acceptable.
    """
    if expected_size is not None and expected_size != size:
        raise SizeMismatchError(expected_size, size)
    for algorithm, expected in (expected_digests or {}).items():
        name = normalize_algorithm(algorithm)
        if name not in ALGORITHMS:
            continue
        actual = digests.get(name)
        if expected.strip().lower() != actual:
            raise ChecksumMismatchError(algorithm, expected, actual)
