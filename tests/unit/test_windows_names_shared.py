"""One Windows-name rule set: the client's planner check (``syncclient.winnames``) and the
server's portable-names policy (``providers.paths.PathPolicy``) give the same verdict on every
name in this table, and a table entry whose expected verdict either side disagrees with fails."""

from __future__ import annotations

import subprocess
import sys

import pytest

from providers.errors import InvalidPathError
from providers.paths import PathPolicy
from syncclient.winnames import case_clashes, component_problem

pytestmark = pytest.mark.unit

# name -> True if Windows cannot hold it
TABLE: dict[str, bool] = {
    "CON": True,
    "con": True,
    "Con.txt": True,
    "CON .txt": True,  # Windows strips the spaces before the extension
    "nul.tar.gz": True,
    "AUX": True,
    "prn.csv": True,
    "COM0": True,
    "COM1": True,
    "com9.log": True,
    "COM\u00b9": True,
    "lpt\u00b3.dat": True,
    "LPT0": True,
    "LPT9": True,
    "CONIN$": True,
    "conout$.txt": True,
    "report.": True,
    "report ": True,
    "a<b": True,
    "a>b": True,
    "a:b": True,
    'a"b': True,
    "a|b": True,
    "what?": True,
    "star*.csv": True,
    "console.txt": False,
    "CONx": False,
    "COM10": False,
    "COM\u2074": False,
    "LPT": False,
    "nullable.csv": False,
    "auxiliary.txt": False,
    ".hidden": False,
    "a.b.c": False,
    "\u00fcber": False,
    " leading space.txt": False,
}


def server_refuses(name: str) -> bool:
    try:
        PathPolicy(windows_compatible=True).check_new_name(name)
    except InvalidPathError:
        return True
    return False


@pytest.mark.parametrize(("name", "bad"), sorted(TABLE.items()))
def test_client_and_server_agree(name: str, bad: bool) -> None:
    client = component_problem(name) is not None
    assert client is bad, f"client verdict on {name!r}"
    assert server_refuses(name) is bad, f"server verdict on {name!r}"


def test_case_rule_is_shared() -> None:
    # NFC and NFD spellings of one name are one name on both sides
    nfc, nfd = "\u00e9t\u00e9.csv", "e\u0301te\u0301.csv"
    assert case_clashes([nfc, nfd.upper()]) != {}
    from providers.errors import ConflictError

    with pytest.raises(ConflictError):
        PathPolicy(windows_compatible=True).check_new_name(nfd.upper(), [nfc])


def test_rules_import_without_server_dependencies() -> None:
    """The client-only install carries the rules: importing them loads no server package."""
    code = (
        "import sys, syncclient.winnames\n"
        "bad = [m for m in ('wsgidav', 'cheroot', 'lxml', 'argon2', 'providers', 'davserver')"
        " if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
