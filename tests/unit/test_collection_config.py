"""Collection settings: the issue's example verbatim, durations, globs, site expectations."""

from __future__ import annotations

from pathlib import Path

import pytest

from davserver.collection.config import TriggerSettings, parse_duration
from davserver.collection.model import Arrival
from davserver.collection.triggers import matches
from davserver.settings import SettingsError, load_settings

EXAMPLE = """\
triggers:
  - name: ingest
    match: {user: alice, path: "in/**/*.csv"}
    run: ["/usr/local/bin/ingest", "--file"]
  - name: notify
    match: {path: "**"}
    webhook: {url: "https://lims.example/hook", secret: "s3cret"}
"""


def _load(tmp_path: Path, text: str) -> object:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text, encoding="utf-8")
    return load_settings(cfg, environ={})


def _arrival(path: str, user: str = "alice", protocol: str = "put", size: int = 10) -> Arrival:
    return Arrival(1, 0.0, user, path, size, "m", "s1", "s256", None, protocol, None)


def test_issue_example_loads_verbatim(tmp_path: Path) -> None:
    settings = _load(tmp_path, EXAMPLE)
    ingest, notify = settings.triggers  # type: ignore[attr-defined]
    assert ingest.actions() == ["run"] and ingest.run == ["/usr/local/bin/ingest", "--file"]
    assert notify.actions() == ["webhook"] and notify.webhook.secret == "s3cret"
    assert matches(ingest, _arrival("in/2026/12/a.csv"))
    assert matches(ingest, _arrival("in/a.csv"))  # ** spans zero folders too
    assert not matches(ingest, _arrival("in/a.csv", user="bob"))
    assert not matches(ingest, _arrival("in/a.csv.part"))
    assert not matches(ingest, _arrival("out/in/a.csv"))
    assert matches(notify, _arrival("any/depth/.hidden"))


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("10s", 10.0), ("500ms", 0.5), ("15m", 900.0), ("24h", 86400.0), ("7d", 604800.0), (90, 90.0)],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["soon", "-1s", "0", "10 parsecs", True])
def test_bad_durations_are_refused(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


@pytest.mark.parametrize(
    ("snippet", "key"),
    [
        ("triggers:\n  - name: x\n    match: {path: '**'}\n", "triggers.0"),
        ("triggers:\n  - name: x\n    run: []\n", "triggers.0.run"),
        ("triggers:\n  - name: x\n    webhook: {url: 'ftp://x'}\n", "triggers.0.webhook.url"),
        ("sites:\n  alice: {expect_every: soon}\n", "sites.alice.expect_every"),
        ("sites:\n  alice: {}\n", "sites.alice"),
        ("sites:\n  alice: {weekly: {timezone: Mars/Base}}\n", "sites.alice.weekly.timezone"),
        ("alerts:\n  email: {smtp_host: x, to: [a@b]}\n", "alerts.email.from"),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, snippet: str, key: str) -> None:
    with pytest.raises(SettingsError) as err:
        _load(tmp_path, snippet)
    assert key in str(err.value)


def test_match_on_protocol_size_and_marker() -> None:
    t = TriggerSettings.model_validate(
        {
            "name": "t",
            "match": {"protocol": ["tus", "chunked"], "min_size": 5, "max_size": 20},
            "when": {"marker": "_DONE"},
            "webhook": {"url": "http://x/"},
        }
    )
    assert matches(t, _arrival("a/_DONE", protocol="tus"))
    assert not matches(t, _arrival("a/_DONE", protocol="put"))
    assert not matches(t, _arrival("a/_DONE", protocol="tus", size=4))
    assert not matches(t, _arrival("a/_DONE", protocol="tus", size=21))
    assert not matches(t, _arrival("a/data.csv", protocol="tus"))


def test_arrivals_cli_refuses_a_root_without_state(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from davserver.cli import main

    assert main(["arrivals", "--root", str(tmp_path / "nothing")]) == 2
    assert "no server state" in capsys.readouterr().err
    assert not (tmp_path / "nothing").exists()
