"""What a new operator sees on the usual first mistakes, on the real server and CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import trustme

from tests.conftest import PASSWORDS, digest_client
from tests.support.server import DavServer

pytestmark = pytest.mark.integration


def test_basic_over_plain_http_401_says_why_and_what_to_do(server: DavServer) -> None:
    """curl -u (Basic) against a plain-HTTP server: the 401 names the cause and the fixes
    instead of a bare 'Access not authorized'; the Digest challenge stays."""
    r = httpx.put(
        server.files_url("alice", "first.txt"),
        content=b"hello",
        auth=("alice", PASSWORDS["alice"]),
    )
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Digest")
    text = r.text
    assert "Basic" in text and "plain HTTP" in text
    assert "--digest" in text and "HTTPS" in text
    assert int(r.headers["Content-Length"]) == len(r.content)
    head = httpx.head(server.files_url("alice"), auth=("alice", PASSWORDS["alice"]))
    assert head.status_code == 401 and head.content == b""


def _davserver(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "davserver.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_misspelt_config_keys_are_named_with_the_likely_key(tmp_path: Path) -> None:
    """A typo'd key says 'unknown key' and which key was meant, at any depth."""
    config = tmp_path / "davsync.yaml"
    config.write_text(
        "root: data\n"
        "prot: 8080\n"
        "auth: {basic_over_htp: true}\n"
        "triggers:\n  - {name: a, run: [x], timout: 5s}\n"
        "sites:\n  site1: {expect_evry: 1h}\n",
        encoding="utf-8",
    )
    done = _davserver("check-config", "--config", str(config), "--skip-port-check")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert lines[0] == f"error: invalid configuration in {config}:"
    assert "  prot: unknown key (did you mean 'port'?)" in lines
    assert "  auth.basic_over_htp: unknown key (did you mean 'basic_over_http'?)" in lines
    assert "  triggers.0.timout: unknown key (did you mean 'timeout'?)" in lines
    assert "  sites.site1.expect_evry: unknown key (did you mean 'expect_every'?)" in lines
    assert not (tmp_path / "data").exists()  # nothing created before the config is valid


def test_bad_value_from_a_flag_or_the_environment_names_it(tmp_path: Path) -> None:
    """A bad --port or DAVSYNC_PORT is reported as coming from there, not from 'defaults'."""
    root = str(tmp_path / "data")
    flag = _davserver("serve", "--root", root, "--port", "80000")
    assert flag.returncode == 2 and "defaults" not in flag.stderr
    assert "port: Input should be less than or equal to 65535 (from --port)" in flag.stderr
    env = _davserver("check-config", "--root", root, env={"DAVSYNC_PORT": "eighty"})
    assert env.returncode == 2 and "(from DAVSYNC_PORT)" in env.stderr
    assert not (tmp_path / "data").exists()


def _startup_lines(argv: list[str], env: dict[str, str], cwd: Path | None = None) -> list[str]:
    """The lines ``davserver serve`` (``argv``) prints up to its ``URL:`` line (at most 51);
    the server is then stopped."""
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("URL:") or len(lines) > 50:
                break
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    return lines


def test_printed_commands_work_as_printed_when_davserver_is_not_on_path(tmp_path: Path) -> None:
    """make serve runs .venv/bin/davserver, which PATH does not find: the commands the first
    start prints (change the admin password, add a user) name the program as it was run."""
    launcher = tmp_path / "venv" / "bin" / "davserver"
    launcher.parent.mkdir(parents=True)
    launcher.write_text(
        f"#!{sys.executable}\nimport sys\nfrom davserver.cli import main\nsys.exit(main())\n",
        encoding="utf-8",
    )
    launcher.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAVSYNC_")}
    env["PATH"] = "/usr/bin:/bin"
    lines = _startup_lines(
        ["venv/bin/davserver", "serve", "--root", "data", "--port", "0"], env, cwd=tmp_path
    )
    text = "\n".join(lines)
    assert "after 'venv/bin/davserver user passwd admin --root data'" in text, text
    assert "'venv/bin/davserver user add NAME --root data'" in text, text
    done = subprocess.run(
        ["venv/bin/davserver", "user", "list", "--root", "data"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0 and "admin" in done.stdout


def test_tls_cert_flag_overrides_only_the_certificate_of_the_config(tmp_path: Path) -> None:
    """--tls-cert with a config that has tls: {cert, key}: the flag replaces the certificate
    (e.g. a renewed one elsewhere) and the config's key stays, as flags override the file."""
    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1")
    issued.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    issued.cert_chain_pems[0].write_to_path(str(tmp_path / "old.pem"))
    issued.cert_chain_pems[0].write_to_path(str(tmp_path / "renewed.pem"))
    config = tmp_path / "davsync.yaml"
    config.write_text("root: data\ntls: {cert: old.pem, key: key.pem}\n", encoding="utf-8")
    renewed = str(tmp_path / "renewed.pem")
    done = _davserver(
        "check-config", "--config", str(config), "--tls-cert", renewed, "--skip-port-check"
    )
    assert done.returncode == 0, done.stderr
    assert "TLS certificate and key match" in done.stdout


def test_sigterm_as_soon_as_url_is_printed_stops_the_server_cleanly(tmp_path: Path) -> None:
    """A supervisor (or a script) stopping the server right after it printed URL: every time
    the server stops, with exit status 0; a SIGTERM was sometimes lost (an exception raised
    by the handler inside a finalizer is ignored) and the server kept running."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAVSYNC_")}
    for attempt in range(6):
        root = tmp_path / f"data{attempt}"
        proc = subprocess.Popen(
            [sys.executable, "-m", "davserver.cli", "serve", "--root", str(root), "--port", "0"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.startswith("URL:"):
                    break
            proc.terminate()
            code = proc.wait(20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        assert code == 0, f"attempt {attempt}: exit status {code}"


def test_non_operator_on_the_status_page_is_told_how_to_become_one(server: DavServer) -> None:
    """serve prints 'operators: URL/status'; the first admin of 'make serve' is no operator
    (no grants in the config): the 403 says which config entry makes one."""
    with digest_client("alice") as alice:
        for path in ("status", "metrics"):
            r = alice.get(server.url + path)
            assert r.status_code == 403
            assert "grants:" in r.text and '{user: NAME, homes: ["*"], mode: read}' in r.text
    with digest_client("oper") as oper:
        assert oper.get(server.url + "status").status_code == 200


def test_startup_says_when_no_user_can_see_the_status_page(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAVSYNC_")}
    cmd = [sys.executable, "-m", "davserver.cli", "serve", "--root", str(tmp_path / "d")]
    lines = _startup_lines([*cmd, "--port", "0"], env)
    browser = next(line for line in lines if line.startswith("In a browser:"))
    assert "/status" in browser and "no operator yet" in browser and "grants" in browser
