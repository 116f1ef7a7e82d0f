"""The planner is pure: every reason, every order policy, determinism."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncclient import UsageError
from syncclient.model import (
    ActionKind,
    Digests,
    IgnoredPath,
    JournalView,
    LocalFile,
    LocalInventory,
    OrderBy,
    OrderPolicy,
    PostAction,
    PostPolicy,
    Reason,
    RemoteFile,
    RemoteInventory,
    Rule,
    SentRecord,
)
from syncclient.plan import make_plan
from syncclient.rules import RuleSet, parse_order

pytestmark = pytest.mark.unit

NOW = 1_000_000.0
D = Digests("a" * 64, "b" * 40, "c" * 32)
OTHER = Digests("1" * 64, "2" * 40, "3" * 32)


def lf(
    path: str, size: int = 10, age: float = 3600, digests: Digests | None = D, **kw: object
) -> LocalFile:
    mtime = NOW - age
    return LocalFile(path, size, int(mtime * 1e9), stable_since=mtime, digests=digests, **kw)  # type: ignore[arg-type]


def rf(path: str, size: int = 10, d: Digests | None = D, **kw: object) -> RemoteFile:
    return RemoteFile(path, size, sha256=d.sha256 if d else None, sha1=d.sha1 if d else None, **kw)  # type: ignore[arg-type]


def local(*files: LocalFile, ignored: tuple[IgnoredPath, ...] = ()) -> LocalInventory:
    return LocalInventory({f.path: f for f in files}, ignored, NOW)


def remote(*files: RemoteFile, dirs: frozenset[str] = frozenset()) -> RemoteInventory:
    return RemoteInventory({f.path: f for f in files}, dirs)


def plan(
    loc: LocalInventory,
    rem: RemoteInventory | None = None,
    journal: JournalView | None = None,
    rules: RuleSet | None = None,
    now: float = NOW,
) -> list[tuple[str, str, str]]:
    p = make_plan(loc, rem or remote(), journal or JournalView(), rules or RuleSet([]), now)
    return [(a.kind.value, a.path, a.reason.value) for a in p.actions]


def test_every_reason() -> None:
    loc = local(
        lf("new.txt"),
        lf("size.txt", size=11),
        lf("hash.txt", digests=OTHER),
        lf("same.txt"),
        lf("fresh.txt", age=5),
        lf("locked.txt", digests=None, locked=True),
        lf("folder-clash"),
        ignored=(IgnoredPath("x.tmp", "defaults: *.tmp"),),
    )
    rem = remote(rf("size.txt"), rf("hash.txt"), rf("same.txt"), dirs=frozenset({"folder-clash"}))
    assert plan(loc, rem) == [
        ("upload", "hash.txt", "changed-hash"),
        ("upload", "new.txt", "new"),
        ("upload", "size.txt", "changed-size"),
        ("wait", "fresh.txt", "waiting-for-stability"),
        ("wait", "locked.txt", "locked"),
        ("skip", "folder-clash", "conflict"),
        ("skip", "same.txt", "unchanged"),
        ("skip", "x.tmp", "ignored"),
    ]


def test_names_equal_in_nfc_are_a_conflict() -> None:
    """The server stores names in NFC: two local names that differ only in Unicode form
    (a folder too) would be one file there, so neither is sent."""
    nfc, nfd = "caf\u00e9.txt", "cafe\u0301.txt"
    loc = local(
        lf(nfc), lf(nfd), lf("d\u00e9j\u00e0/x.csv"), lf("de\u0301ja\u0300/x.csv"), lf("ok.txt")
    )
    p = make_plan(loc, remote(), JournalView(), RuleSet([]), NOW)
    got = {a.path: (a.kind.value, a.reason.value) for a in p.actions}
    assert got.pop("ok.txt") == ("upload", "new")
    assert set(got.values()) == {("skip", "conflict")} and len(got) == 4
    detail = next(a.detail for a in p.actions if a.path == nfd)
    assert repr(nfc) in detail and "rename one" in detail


def test_file_on_the_server_where_a_folder_goes_is_a_conflict() -> None:
    """A file on the server named like a local folder: the files below it cannot be stored
    (a chunked upload would send every byte and fail at the commit), so they are skipped."""
    loc = local(lf("runs/a/x.bin"), lf("runs/b.bin"), lf("ok.txt"))
    p = make_plan(loc, remote(rf("runs/a")), JournalView(), RuleSet([]), NOW)
    got = {a.path: (a.kind.value, a.reason.value, a.detail) for a in p.actions}
    assert got["runs/a/x.bin"][:2] == ("skip", "conflict")
    assert "'runs/a'" in got["runs/a/x.bin"][2]
    assert got["runs/b.bin"][:2] == got["ok.txt"][:2] == ("upload", "new")


def test_server_without_hash_uses_the_journal() -> None:
    loc = local(lf("a"), lf("b"), lf("c"))
    rem = remote(rf("a", d=None, etag="e1"), rf("b", d=None, etag="e2"), rf("c", d=None))
    sent = {
        "a": SentRecord("a", 10, 0, D.sha256, NOW - 10, etag="e1"),
        "b": SentRecord("b", 10, 0, D.sha256, NOW - 10, etag="old"),  # replaced since
    }
    assert plan(loc, rem, JournalView(sent=sent)) == [
        ("upload", "b", "changed-hash"),
        ("upload", "c", "changed-hash"),
        ("skip", "a", "unchanged"),
    ]


def test_md5_only_server_hash_is_compared() -> None:
    rem = remote(RemoteFile("a", 10, md5=D.md5), RemoteFile("b", 10, md5=OTHER.md5))
    assert plan(local(lf("a"), lf("b")), rem) == [
        ("upload", "b", "changed-hash"),
        ("skip", "a", "unchanged"),
    ]


def test_stability_gate_and_markers() -> None:
    rules = RuleSet(
        [Rule("m", ("*.dat",), stable_seconds=60, done_suffix=".ok")],
        Rule(stable_seconds=60, flag_file="READY"),
    )
    loc = local(
        lf("a.dat", age=1),
        lf("a.dat.ok", age=1),  # marked ready
        lf("b.dat", age=1),  # waits
        lf("c.dat", age=61),  # settled
        lf("cam/x.raw", age=1),
        lf("cam/READY", age=1),  # folder flag
        lf("other/y.raw", age=59.5),
    )
    assert plan(loc, rules=rules) == [
        ("upload", "a.dat", "new"),
        ("upload", "c.dat", "new"),
        ("upload", "cam/x.raw", "new"),
        ("wait", "b.dat", "waiting-for-stability"),
        ("wait", "other/y.raw", "waiting-for-stability"),
        ("skip", "a.dat.ok", "done-marker"),
        ("skip", "cam/READY", "done-marker"),
    ]


def test_stable_since_not_mtime_decides() -> None:
    f = replace(lf("a"), stable_since=NOW - 10)  # old mtime, but seen changing 10 s ago
    assert plan(local(f)) == [("wait", "a", "waiting-for-stability")]


def _aged(names_ages: dict[str, tuple[float, int]]) -> LocalInventory:
    return local(*(lf(n, size=s, age=a) for n, (a, s) in names_ages.items()))


AGES = {"a": (400.0, 30), "b": (100.0, 10), "c": (300.0, 20), "d": (200.0, 40)}


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("newest-first", ["b", "d", "c", "a"]),
        ("oldest-first", ["a", "c", "d", "b"]),
        ("smallest-first", ["b", "c", "a", "d"]),
        ("largest-first", ["d", "a", "c", "b"]),
        ("path", ["a", "b", "c", "d"]),
    ],
)
def test_order_policies(policy: str, expected: list[str]) -> None:
    rules = RuleSet([]).with_order(parse_order(policy))
    assert [p for _, p, _ in plan(_aged(AGES), rules=rules)] == expected


def test_classes_then_newest() -> None:
    loc = local(
        lf("1.log", age=1000),
        lf("2.csv", age=500),
        lf("3.log", age=100),
        lf("4.bin", age=40),
        lf("5.csv", age=2000),
    )
    rules = RuleSet([]).with_order(parse_order("classes:*.csv,*.log+newest-first"))
    assert [p for _, p, _ in plan(loc, rules=rules)] == [
        "2.csv",
        "5.csv",
        "3.log",
        "1.log",
        "4.bin",
    ]


def test_rule_priority_orders_across_rules() -> None:
    rules = RuleSet(
        [Rule("urgent", ("urgent/",), stable_seconds=0, priority=-1)],
        Rule(stable_seconds=0, order=OrderPolicy(OrderBy.NEWEST_FIRST)),
    )
    loc = local(lf("x/new", age=1), lf("urgent/old", age=9999), lf("x/old", age=50))
    assert [p for _, p, _ in plan(loc, rules=rules)] == ["urgent/old", "x/new", "x/old"]


def test_latest_only_per_folder_skip_and_later() -> None:
    loc = local(
        *(lf(f"cam/{i}", age=100 - i) for i in range(5)),
        lf("log/a", age=5),
        lf("cam/3-waiting", age=0.5),
    )
    skip = RuleSet([]).with_order(parse_order("latest-only:2"))
    assert plan(loc, rules=replace_stable(skip)) == [
        ("upload", "log/a", "new"),
        ("upload", "cam/4", "new"),
        ("wait", "cam/3-waiting", "waiting-for-stability"),
        ("skip", "cam/0", "superseded"),
        ("skip", "cam/1", "superseded"),
        ("skip", "cam/2", "superseded"),
        ("skip", "cam/3", "superseded"),
    ]
    later = RuleSet([]).with_order(parse_order("latest-only:2+later"))
    assert [p for k, p, _ in plan(loc, rules=replace_stable(later)) if k == "upload"] == [
        "log/a",
        "cam/4",
        "cam/3",
        "cam/2",
        "cam/1",
        "cam/0",
    ]


def replace_stable(rs: RuleSet) -> RuleSet:
    return RuleSet([], replace(rs.rules[-1], stable_seconds=2))


def test_latest_only_per_rule_groups_across_folders() -> None:
    rules = RuleSet([]).with_order(parse_order("latest-only:1+per-rule"))
    loc = local(lf("a/x", age=100), lf("b/y", age=50))
    assert plan(loc, rules=rules) == [("upload", "b/y", "new"), ("skip", "a/x", "superseded")]


def test_open_session_marks_resume() -> None:
    p = make_plan(
        local(lf("big")), remote(), JournalView(open_sessions=frozenset({"big"})), RuleSet([]), NOW
    )
    assert p.uploads[0].resume is True


def test_post_actions_for_unchanged_files() -> None:
    def rules(action: PostAction, days: float = 0) -> RuleSet:
        return RuleSet([], Rule(post=PostPolicy(action, "archive", days)))

    loc, rem = local(lf("a")), remote(rf("a"))
    assert plan(loc, rem, rules=rules(PostAction.DELETE)) == [("post-action", "a", "unchanged")]
    assert plan(loc, rem, rules=rules(PostAction.MOVE)) == [("post-action", "a", "unchanged")]
    assert plan(loc, rem, rules=rules(PostAction.KEEP)) == [("skip", "a", "unchanged")]
    sent = JournalView(sent={"a": SentRecord("a", 10, 0, D.sha256, NOW - 86400 * 2)})
    assert plan(loc, rem, sent, rules(PostAction.DELETE_AFTER, 3)) == [("skip", "a", "unchanged")]
    assert plan(loc, rem, sent, rules(PostAction.DELETE_AFTER, 2)) == [
        ("post-action", "a", "unchanged")
    ]
    assert plan(loc, rem, JournalView(), rules(PostAction.DELETE_AFTER, 0)) == [
        ("skip", "a", "unchanged")
    ]


def test_parse_order_errors() -> None:
    for bad in ("sideways", "latest-only:0", "latest-only:x", "classes:"):
        with pytest.raises(UsageError):
            parse_order(bad)


names = st.lists(
    st.from_regex(r"[a-c]{1,2}(/[a-c]{1,2})?", fullmatch=True), min_size=1, max_size=12, unique=True
)


@settings(max_examples=60, deadline=None)
@given(names=names, data=st.data())
def test_plan_is_deterministic_and_total(names: list[str], data: st.DataObject) -> None:
    files = [
        lf(n, size=data.draw(st.integers(0, 5)), age=data.draw(st.sampled_from([1, 50, 99])))
        for n in names
    ]
    files = [f for f in files if not any(g.path.startswith(f.path + "/") for g in files)]
    rem = remote(*(rf(f.path, size=3) for f in files[::2]))
    policy = data.draw(
        st.sampled_from(
            ["newest-first", "smallest-first", "latest-only:1+later", "classes:a*+oldest-first"]
        )
    )
    rules = RuleSet([]).with_order(parse_order(policy))
    shuffled = data.draw(st.permutations(files))
    first = make_plan(local(*files), rem, JournalView(), rules, NOW)
    second = make_plan(local(*shuffled), rem, JournalView(), rules, NOW)
    assert first == second
    assert sorted(a.path for a in first.actions) == sorted(f.path for f in files)
    kinds = [a.kind for a in first.actions]
    order = [ActionKind.UPLOAD, ActionKind.POST, ActionKind.WAIT, ActionKind.SKIP]
    assert kinds == sorted(kinds, key=order.index)
    assert all(a.reason is not Reason.UNCHANGED for a in first.uploads)
