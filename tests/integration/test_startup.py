"""``davserver serve`` start-up as an operator meets it: real ``serve`` processes that must fail
cleanly (port in use, TLS files missing, wrong or unreadable) before creating anything, the
permissions of the state folder, the first admin password file and a start-up text that is
true for the configuration."""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trustme

from tests.support.server import DavServer, add_user

pytestmark = pytest.mark.integration


def serve(
    root: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``davserver serve`` that is expected to exit by itself (a start-up failure)."""
    return subprocess.run(
        [sys.executable, "-m", "davserver.cli", "serve", "--root", str(root), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **(env or {})},
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture()
def busy_port() -> Iterator[int]:
    """A port on 127.0.0.1 some other program listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A certificate for 127.0.0.1, its key, another key, and a file that is not PEM."""
    tmp = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    files = {name: tmp / f"{name}.pem" for name in ("cert", "key", "other-key", "junk")}
    cert.cert_chain_pems[0].write_to_path(str(files["cert"]))
    cert.private_key_pem.write_to_path(str(files["key"]))
    ca.issue_cert("127.0.0.1").private_key_pem.write_to_path(str(files["other-key"]))
    files["junk"].write_text("not a certificate\n", encoding="utf-8")
    for path in files.values():
        path.chmod(0o600)
    return files


def test_port_in_use_fails_before_creating_anything(tmp_path: Path, busy_port: int) -> None:
    root = tmp_path / "root"
    proc = serve(root, "--port", str(busy_port), env={"DAVSYNC_ADMIN_PASSWORD": ""})
    assert_one_line_error(proc, f"port {busy_port}", "in use")
    assert not root.exists()  # no admin user, no folders
    assert "password" not in proc.stdout


@pytest.mark.parametrize("flag", ["--ftp-port", "--smtp-port"])
def test_gateway_without_tls_fails_before_creating_anything(
    tmp_path: Path, busy_port: int, flag: str
) -> None:
    root = tmp_path / "root"
    proc = serve(root, "--port", "0", flag, "0", env={"DAVSYNC_ADMIN_PASSWORD": ""})
    assert_one_line_error(proc, "gateways.", "allow_plain_login")
    assert not root.exists()  # no admin user, no folders
    config = tmp_path / "plain.yaml"
    name = flag[2:].split("-")[0]
    config.write_text(f"gateways: {{{name}: {{allow_plain_login: true}}}}\n", encoding="utf-8")
    proc = serve(root, "--config", str(config), "--port", "0", flag, str(busy_port))
    assert_one_line_error(proc, f"port {busy_port}", "in use")
    assert not root.exists()


def test_missing_tls_file_is_named(tmp_path: Path, tls_files: dict[str, Path]) -> None:
    root = tmp_path / "root"
    missing = tmp_path / "nope" / "cert.pem"
    proc = serve(
        root, "--port", "0", "--tls-cert", str(missing), "--tls-key", str(tls_files["key"])
    )
    assert_one_line_error(proc, str(missing), "no such file")
    missing_key = tmp_path / "key.pem"
    proc = serve(
        root, "--port", "0", "--tls-cert", str(tls_files["cert"]), "--tls-key", str(missing_key)
    )
    assert_one_line_error(proc, str(missing_key), "tls.key")
    assert not root.exists()


@pytest.mark.parametrize(
    ("cert", "key", "named", "says"),
    [
        ("cert", "other-key", "other-key", "does not match"),
        ("junk", "key", "junk", "no PEM certificate"),
        ("cert", "junk", "junk", "no PEM private key"),
    ],
)
def test_bad_tls_files_are_named(
    tmp_path: Path, tls_files: dict[str, Path], cert: str, key: str, named: str, says: str
) -> None:
    root = tmp_path / "root"
    proc = serve(
        root, "--port", "0", "--tls-cert", str(tls_files[cert]), "--tls-key", str(tls_files[key])
    )
    assert_one_line_error(proc, str(tls_files[named]), says)
    assert not root.exists()


def serve_without_override(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``serve`` that file modes bind: as root (which reads and writes everything) it runs
    without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (util-linux ``setpriv``)."""
    cmd = [sys.executable, "-m", "davserver.cli", "serve", "--root", str(root), *args]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: root reads every file")
        cmd = [setpriv, "--bounding-set", "-dac_override,-dac_read_search", "--", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)


def test_unreadable_tls_key_is_named(tmp_path: Path, tls_files: dict[str, Path]) -> None:
    root = tmp_path / "root"
    key = tmp_path / "key.pem"
    key.write_bytes(tls_files["key"].read_bytes())
    key.chmod(0)
    proc = serve_without_override(
        root, "--port", "0", "--tls-cert", str(tls_files["cert"]), "--tls-key", str(key)
    )
    assert_one_line_error(proc, str(key), "permission denied")
    assert not root.exists()


def test_state_file_the_server_cannot_open_is_named(tmp_path: Path) -> None:
    """E.g. ``sudo davserver user add`` for a server that runs as its own account leaves a
    state file that account cannot open: serve names it instead of failing inside SQLite."""
    root = tmp_path / "root"
    add_user(root, "alice", "pw-alice")
    state = root / ".davsync"
    (state / "state.sqlite").chmod(0)
    proc = serve_without_override(root, "--port", "0")
    assert_one_line_error(proc, f"state file {state / 'state.sqlite'} ", "chown -R")


def test_data_folder_that_is_a_file(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.write_text("a file, not a folder\n", encoding="utf-8")
    proc = serve(root, "--port", "0")
    assert_one_line_error(proc, str(root), "not a folder")


def _modes(state: Path) -> dict[str, int]:
    return {
        str(p.relative_to(state)): stat.S_IMODE(p.lstat().st_mode)
        for p in [state, *state.rglob("*")]
        if p.is_dir() or p.is_file()
    }


def test_state_files_are_private(tmp_path: Path) -> None:
    srv = DavServer(tmp_path / "root").start()
    try:
        with httpx.Client(auth=httpx.DigestAuth("admin", "admin-secret"), timeout=30) as http:
            assert http.put(srv.files_url("admin", "a.txt"), content=b"abc").status_code == 201
            assert (
                http.request("PROPFIND", srv.files_url("admin"), headers={"Depth": "1"}).status_code
                == 207
            )
        state = tmp_path / "root" / ".davsync"
        modes = _modes(state)
        # both databases are open in WAL mode while the server runs
        for db in ("state.sqlite", "metadata.sqlite"):
            for suffix in ("", "-wal", "-shm"):
                assert db + suffix in modes, sorted(modes)
        for rel, mode in modes.items():
            wanted = 0o700 if (state / rel).is_dir() else 0o600
            assert mode == wanted, f"{rel}: {oct(mode)}"
        # what the user uploaded keeps the usual mode (the umask), only state is private
        assert (
            stat.S_IMODE((tmp_path / "root" / "files" / "admin" / "a.txt").stat().st_mode) & 0o600
            == 0o600
        )
    finally:
        srv.stop()


def test_existing_install_is_tightened(tmp_path: Path) -> None:
    root = tmp_path / "root"
    add_user(root, "alice", "pw-alice")
    state = root / ".davsync"
    state.chmod(0o755)
    (state / "state.sqlite").chmod(0o644)
    (state / "old-notes.txt").write_text("x\n", encoding="utf-8")
    (state / "old-notes.txt").chmod(0o664)
    srv = DavServer(root).start()
    try:
        output = "".join(srv.output)
        assert "tightened permissions" in output and "old-notes.txt" in output
        modes = _modes(state)
        assert modes["."] == 0o700
        assert modes["state.sqlite"] == 0o600 and modes["old-notes.txt"] == 0o600
    finally:
        srv.stop()


def test_user_add_creates_private_state(tmp_path: Path) -> None:
    root = tmp_path / "root"
    add_user(root, "alice", "pw-alice")
    modes = _modes(root / ".davsync")
    assert modes["."] == 0o700 and modes["state.sqlite"] == 0o600, modes


def test_first_admin_password_goes_to_a_private_file(tmp_path: Path) -> None:
    root = tmp_path / "root"
    srv = DavServer(root, env={"DAVSYNC_ADMIN_PASSWORD": ""}).start()
    secret = root / ".davsync" / "initial-admin-password"
    try:
        output = "".join(srv.output)
        assert f"The password is in {secret}" in output
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
        password = secret.read_text(encoding="utf-8").strip()
        assert len(password) >= 12
        assert password not in output  # not a terminal: the password stays out of the log
        assert "Log in as 'admin' (created now" in output
        with httpx.Client(auth=httpx.DigestAuth("admin", password), timeout=30) as http:
            assert (
                http.request("PROPFIND", srv.files_url("admin"), headers={"Depth": "0"}).status_code
                == 207
            )
    finally:
        srv.stop()
    again = DavServer(root, env={"DAVSYNC_ADMIN_PASSWORD": ""}).start()
    try:
        output = "".join(again.output)
        assert "Created user" not in output and "created now" not in output
        assert "1 existing user(s)" in output
        assert f"The first admin password is in {secret}" in output
    finally:
        again.stop()


def test_existing_users_no_admin_no_password_claim(tmp_path: Path) -> None:
    root = tmp_path / "root"
    add_user(root, "alice", "pw-alice")
    srv = DavServer(root, env={"DAVSYNC_ADMIN_PASSWORD": ""}).start()
    try:
        output = "".join(srv.output)
        assert "'admin'" not in output and "tightened" not in output
        assert "password" not in output.lower()
        assert not (root / ".davsync" / "initial-admin-password").exists()
    finally:
        srv.stop()


@pytest.mark.parametrize(
    ("config", "says"),
    [
        ("", "Authentication: Digest only: Basic is refused over plain HTTP"),
        ("auth: {basic_over_http: true}\n", "Authentication: Basic or Digest over plain HTTP"),
        ("auth: {digest: false, basic_over_http: true}\n", "Authentication: Basic over plain HTTP"),
        ("auth: {digest: false}\n", "Authentication: NONE"),
    ],
)
def test_auth_line_matches_config(tmp_path: Path, config: str, says: str) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(config, encoding="utf-8")
    srv = DavServer(tmp_path / "root", ["--config", str(cfg)]).start()
    try:
        lines = [line for line in srv.output if line.startswith("Authentication:")]
        assert len(lines) == 1 and lines[0].startswith(says), lines
    finally:
        srv.stop()


def test_auth_line_over_tls(tmp_path: Path, tls_files: dict[str, Path]) -> None:
    args = ["--tls-cert", str(tls_files["cert"]), "--tls-key", str(tls_files["key"])]
    srv = DavServer(tmp_path / "root", args).start()
    try:
        assert srv.url.startswith("https://")
        assert "Authentication: Basic or Digest over HTTPS.\n" in srv.output
    finally:
        srv.stop()


@pytest.mark.parametrize("release", ["12.0.0", "10.4.3"])
def test_untested_cheroot_is_refused(tmp_path: Path, release: str) -> None:
    """A cheroot outside the range cheroot_guard supports stops serve before anything."""
    root = tmp_path / "root"
    program = (
        "import sys\n"
        "import davserver.cli as cli\n"
        f"cli.installed_cheroot = lambda: {release!r}\n"
        "raise SystemExit(cli.main(sys.argv[1:]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", program, "serve", "--root", str(root), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert_one_line_error(proc, f"cheroot {release} is not supported", "11.1.2")
    assert not root.exists()


@pytest.mark.parametrize(("verbose", "logged"), [(2, False), (3, True)])
def test_verbose_key_adds_a_line_per_request(tmp_path: Path, verbose: int, logged: bool) -> None:
    """``verbose`` as README documents it: 3 or more logs one line per request."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"verbose: {verbose}\n", encoding="utf-8")
    srv = DavServer(tmp_path / "root", ["--config", str(cfg)]).start()
    try:
        with httpx.Client(auth=httpx.DigestAuth("admin", "admin-secret"), timeout=30) as http:
            url = srv.files_url("admin")
            assert http.request("PROPFIND", url, headers={"Depth": "0"}).status_code == 207
        srv.stop()
        lines = [line for line in srv.output if '"PROPFIND /files/admin/"' in line]
        assert bool(lines) == logged, "".join(srv.output)
        if logged:
            assert "admin" in lines[-1] and "-> 207" in lines[-1]
    finally:
        srv.stop()
