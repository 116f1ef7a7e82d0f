"""The benchmarks' result checks (bench.checks): a failed transfer or a wrong hash means no
ratio is printed and the run exits 1; only a clean run prints its table."""

from __future__ import annotations

import pytest

from bench import sync_vs_rclone
from bench.checks import BenchFailedError, Verdict, run_checked, tree_mismatch

pytestmark = pytest.mark.unit

TREE = {"site/a.csv": "aa" * 32, "site/b.csv": "bb" * 32, "video/c.bin": "cc" * 32}
TIMES = {"syncclient": (10.0, 1.0), "rclone": (60.0, 1.2)}


def _render_must_not_run() -> str:
    raise AssertionError("the ratio table was rendered although a check failed")


def test_identical_trees_match() -> None:
    assert tree_mismatch(TREE, dict(TREE)) is None
    verdict = Verdict()
    assert verdict.tree("rclone", TREE, dict(TREE)) == "ok (3 files, every hash matches)"
    assert verdict.ok


def test_mismatch_names_missing_changed_and_extra_files() -> None:
    got = {"site/a.csv": "00" * 32, "video/c.bin": "cc" * 32, "stray.tmp": "dd" * 32}
    assert tree_mismatch(TREE, got) == (
        "MISMATCH: 1 missing (e.g. site/b.csv), 1 with another hash (e.g. site/a.csv), "
        "1 extra (e.g. stray.tmp)"
    )


def test_wrong_hash_refuses_the_ratio() -> None:
    verdict = Verdict()
    verdict.tree("syncclient", TREE, dict(TREE))
    verdict.tree("rclone", TREE, {**TREE, "video/c.bin": "00" * 32})
    with pytest.raises(BenchFailedError, match=r"rclone: MISMATCH: 1 with another hash"):
        verdict.ratios(_render_must_not_run)


def test_failed_transfer_refuses_the_ratio() -> None:
    verdict = Verdict()
    verdict.exit_code("rclone first sync", 0)
    assert verdict.ok
    verdict.exit_code("rclone no-op resync", 7, "ERROR : connection refused\n")
    with pytest.raises(BenchFailedError, match="rclone no-op resync exited 7: ERROR : connection"):
        verdict.ratios(_render_must_not_run)


def test_wrong_value_refuses_the_ratio() -> None:
    verdict = Verdict()
    verdict.equal("nginx-dav: SHA-256 of the large file", "ab" * 32, "cd" * 32)
    with pytest.raises(BenchFailedError, match="nginx-dav: SHA-256 of the large file: expected"):
        verdict.ratios(_render_must_not_run)


def test_clean_run_prints_the_sync_table() -> None:
    verdict = Verdict()
    verdict.tree("syncclient", TREE, dict(TREE))
    text = verdict.ratios(lambda: sync_vs_rclone.table(TIMES))
    assert "ratio rclone/syncclient: first sync 6.00x, no-op resync 1.20x" in text
    assert "differs: syncclient hashes every file" in text


def test_run_checked_exits_1_and_prints_no_ratio(capsys: pytest.CaptureFixture[str]) -> None:
    def bench_main() -> int:
        verdict = Verdict()
        verdict.tree("rclone", TREE, {})
        print(verdict.ratios(lambda: sync_vs_rclone.table(TIMES)))
        return 0

    assert run_checked(bench_main) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("BENCHMARK FAILED, no ratio printed: rclone: MISMATCH: 3 missing")
