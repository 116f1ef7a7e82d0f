"""cadaver (Debian): a scripted session of every file and property command, over plain HTTP
with Digest (commands on standard input) and over HTTPS with Basic (on a pseudo-terminal,
answering "y" when cadaver asks whether to accept the test CA's certificate)."""

from __future__ import annotations

from pathlib import Path

import pytest

from interop import cadaver
from interop.tools import require_tool
from tests.interop.conftest import ENDPOINTS, Endpoint

pytestmark = [pytest.mark.interop]

EDITOR = """#!/bin/sh
# stands in for the user's editor: cadaver's "edit" runs $EDITOR on a local copy
sed -i 's/draft/final/' "$1"
touch -d "1 minute" "$1"  # cadaver uploads only if the mtime changed, in whole seconds
"""


@pytest.fixture(autouse=True)
def _installed() -> None:
    require_tool("cadaver")


@pytest.mark.parametrize("endpoint", ENDPOINTS, indirect=True)
def test_cadaver_session(
    endpoint: Endpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    cadaver.write_netrc(home, "127.0.0.1", endpoint.user, endpoint.password)
    work = tmp_path / "work"
    work.mkdir()
    (work / "report.txt").write_bytes(b"draft report\n")
    editor = tmp_path / "editor.sh"
    editor.write_text(EDITOR, encoding="utf-8")
    editor.chmod(0o755)
    monkeypatch.setenv("EDITOR", str(editor))
    folder = f"cadaver-{endpoint.name}"
    with endpoint.client() as http:
        http.request("DELETE", endpoint.files_url(folder + "/"))
    commands = [
        f"mkcol {folder}",
        f"cd {folder}",
        "put report.txt up.txt",
        "get up.txt down.txt",
        "copy up.txt copied.txt",
        "move copied.txt moved.txt",
        "lock up.txt",
        "showlocks",
        "unlock up.txt",
        "propset up.txt color red",
        "propget up.txt color",
        "propnames up.txt",
        "propdel up.txt color",
        "edit up.txt",
        "ls",
        "rm moved.txt",
        "mkcol sub",
        "rmcol sub",
    ]
    session = cadaver.run(
        endpoint.files_url(),
        commands,
        home=home,
        cwd=work,
        accept_certificate=endpoint.ca is not None,
    )
    transcript = session.transcript
    assert [r.command for r in session.results] == commands, transcript
    for command in commands:
        result = session.result(command)
        if command.startswith(("cd ", "showlocks", "propget")):
            assert "failed" not in result.output.lower(), (command, transcript)
        else:
            assert result.succeeded, (command, result.output, transcript)
    if endpoint.ca is not None:
        assert "Do you wish to accept the certificate?" in session.banner
    assert (work / "down.txt").read_bytes() == b"draft report\n"
    assert "opaquelocktoken:" in session.result("showlocks").output
    assert "Value of color is: red" in session.result("propget up.txt color").output
    assert "color" in session.result("propnames up.txt").output, transcript
    listing = session.result("ls").output
    assert "moved.txt" in listing and "up.txt" in listing
    with endpoint.client() as http:
        base = endpoint.files_url(folder + "/")
        assert http.get(base + "up.txt").content == b"final report\n"  # edit: LOCK/GET/PUT/UNLOCK
        assert http.head(base + "moved.txt").status_code == 404
        assert http.request("PROPFIND", base + "sub/", headers={"Depth": "0"}).status_code == 404
        props = http.request("PROPFIND", base + "up.txt", headers={"Depth": "0"})
        assert b"color" not in props.content  # propdel removed it
        assert b"activelock" not in props.content  # unlocked, and edit's lock released
