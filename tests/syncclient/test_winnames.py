"""Windows naming checks (pure) and how the planner applies them."""

from __future__ import annotations

import pytest

from syncclient.model import ActionKind, JournalView, Reason
from syncclient.plan import make_plan
from syncclient.rules import RuleSet
from syncclient.winnames import (
    MAX_PATH,
    WindowsNames,
    case_clashes,
    component_problem,
    name_problems,
    path_problem,
)
from tests.syncclient.test_plan import NOW, lf, local, remote, rf

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "name",
    [
        "CON",
        "con",
        "Con.txt",
        "nul.tar.gz",
        "AUX",
        "prn.csv",
        "COM1",
        "com9.log",
        "LPT1",
        "lpt9.dat",
        "CON .txt",
        "report.",
        "report ",
        "a<b",
        "a>b",
        "a:b",
        'a"b',
        "a\\b",
        "a|b",
        "what?",
        "star*.csv",
        "tab\there",
        "bell\x07",
    ],
)
def test_bad_components(name: str) -> None:
    assert component_problem(name) is not None


@pytest.mark.parametrize(
    "name",
    ["console.txt", "CONx", "COM10", "LPT", "nullable.csv", ".hidden", "a.b.c", "über"],
)
def test_good_components(name: str) -> None:
    assert component_problem(name) is None


def test_messages_name_the_problem() -> None:
    assert "reserved device name 'AUX'" in (path_problem("data/aux.csv") or "")
    assert "trailing dot" in (path_problem("run 1./x.csv") or "")
    assert "trailing space" in (path_problem("x.csv ") or "")
    assert "':'" in (path_problem("12:00.csv") or "")
    assert path_problem("ok/fine.csv") is None


def test_long_paths() -> None:
    ok = "d/" + "x" * (MAX_PATH - 2)
    assert len(ok) == MAX_PATH and path_problem(ok) is None
    msg = path_problem(ok + "y")
    assert msg is not None and "261 characters" in msg


def test_case_clashes_files_and_folders() -> None:
    got = case_clashes(["a/B.txt", "a/b.txt", "c/x.txt", "Dir/1", "dir/2", "DIR/3", "e/f"])
    assert got == {"a/b.txt": "a/B.txt", "dir/2": "DIR", "Dir/1": "DIR"}
    assert case_clashes(["a/b.txt", "a/c.txt"]) == {}


def test_name_problems_combines_both() -> None:
    got = name_problems(["CON.txt", "a/B.txt", "a/b.txt", "fine.txt"])
    assert set(got) == {"CON.txt", "a/b.txt"}
    assert "differs only in case from 'a/B.txt'" in got["a/b.txt"]


def _plan(mode: WindowsNames) -> list[tuple[str, str, str, str]]:
    loc = local(lf("ok.txt"), lf("CON.txt"), lf("a/B.txt"), lf("a/b.txt"), lf("same."))
    rem = remote(rf("same."))
    p = make_plan(loc, rem, JournalView(), RuleSet([]), NOW, mode)
    return [(a.kind.value, a.path, a.reason.value, a.warning) for a in p.actions]


def test_report_mode_sends_and_warns() -> None:
    got = {path: (kind, reason, bool(w)) for kind, path, reason, w in _plan(WindowsNames.REPORT)}
    assert got == {
        "ok.txt": ("upload", "new", False),
        "CON.txt": ("upload", "new", True),
        "a/B.txt": ("upload", "new", False),
        "a/b.txt": ("upload", "new", True),
        "same.": ("skip", "unchanged", True),
    }
    loc = local(lf("CON.txt"), lf("x"))
    counts = make_plan(loc, remote(), JournalView(), RuleSet([]), NOW).counts()
    assert counts == {"new": 2, "name-warning": 1}


def test_skip_mode_never_sends_them() -> None:
    got = _plan(WindowsNames.SKIP)
    uploads = [p for kind, p, _, _ in got if kind == ActionKind.UPLOAD.value]
    assert uploads == ["a/B.txt", "ok.txt"]
    invalid = {p: r for kind, p, r, _ in got if r == Reason.NAME_INVALID.value}
    assert set(invalid) == {"CON.txt", "a/b.txt", "same."}


def test_off_mode_checks_nothing() -> None:
    got = _plan(WindowsNames.OFF)
    assert all(not w for *_, w in got)
    assert sum(1 for kind, *_ in got if kind == "upload") == 4


def test_table_never_hides_a_warned_file() -> None:
    from syncclient.output import plan_json, plan_table

    loc = local(lf("same."), lf("same.txt"))
    p = make_plan(loc, remote(rf("same."), rf("same.txt")), JournalView(), RuleSet([]), NOW)
    table = plan_table(p)
    assert "same.  " in table and "name-warning: trailing dot in 'same.'" in table
    assert "same.txt" not in table  # plain unchanged files stay hidden without -v
    assert [a["warning"] != "" for a in plan_json(p)] == [True, False]
