"""The cheroot release check: the pin in pyproject.toml, the installed release and the
refusal of releases the guard was not written for."""

from __future__ import annotations

import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest

from davserver.cheroot_version import (
    TESTED,
    UnsupportedCherootError,
    check_cheroot,
    installed_cheroot,
)

pytestmark = pytest.mark.unit

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def test_pin_matches_the_check() -> None:
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    server = project["optional-dependencies"]["server"]
    assert f"cheroot>={TESTED},<12" in server
    assert not any(dep.startswith("cheroot") for dep in project["dependencies"])


def test_installed_release_is_the_tested_one() -> None:
    assert installed_cheroot() == version("cheroot")
    assert check_cheroot(installed_cheroot()) is None


@pytest.mark.parametrize("found", ["11.1.3", "11.2.0", "11.9"])
def test_other_releases_in_range_warn(found: str) -> None:
    warning = check_cheroot(found)
    assert warning is not None and found in warning and TESTED in warning


@pytest.mark.parametrize("found", ["10.0.1", "11.0.0", "11.1.1", "12.0.0", "13.1", "x"])
def test_releases_outside_range_are_refused(found: str) -> None:
    with pytest.raises(UnsupportedCherootError, match=r"not supported|cannot be read"):
        check_cheroot(found)
