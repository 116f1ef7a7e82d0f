"""The FTP/FTPS gateway against a hostile user: requests that must be refused without
touching anything, on a real ``davserver serve`` (ftplib's FTP_TLS)."""

from __future__ import annotations

import contextlib
import ftplib
import gc
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from davserver.gateways.ftp import staging
from davserver.gateways.ftp.server import FtpGateway
from tests.support.configured import USERS
from tests.support.ftp import FtpEndpoint, start_ftp_server
from tests.support.inprocess import inprocess_app

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FtpEndpoint]:
    ep = start_ftp_server(tmp_path_factory.mktemp("ftp-hostile"), trustme.CA())
    yield ep
    ep.server.stop()


@pytest.fixture
def ftp(endpoint: FtpEndpoint) -> Iterator[ftplib.FTP_TLS]:
    client = endpoint.client("bob")
    yield client
    try:
        client.quit()
    except (ftplib.Error, OSError):
        client.close()


def _tree(home: Path) -> list[str]:
    return sorted(str(p.relative_to(home)) for p in home.rglob("*"))


@pytest.fixture
def filled(ftp: ftplib.FTP_TLS, endpoint: FtpEndpoint) -> Iterator[list[str]]:
    """bob's home with a folder ``d`` (a file inside) and a file beside it; yields the tree
    and empties the home afterwards."""
    ftp.mkd("d")
    ftp.storbinary("STOR d/f.txt", io.BytesIO(b"inside"))
    ftp.storbinary("STOR keep.txt", io.BytesIO(b"beside"))
    yield _tree(endpoint.home("bob"))
    for name in ("d/f.txt", "keep.txt"):
        with contextlib.suppress(ftplib.error_perm):
            ftp.delete(name)
    with contextlib.suppress(ftplib.error_perm):
        ftp.rmd("d")


@pytest.mark.parametrize("onto", ["/", "..", "/.."])
def test_rename_onto_the_home_is_refused_and_deletes_nothing(
    ftp: ftplib.FTP_TLS, endpoint: FtpEndpoint, filled: list[str], onto: str
) -> None:
    ftp.sendcmd("RNFR d")
    with pytest.raises(ftplib.error_perm, match=r"550 Cannot move .* folder that contains it"):
        ftp.sendcmd(f"RNTO {onto}")
    assert endpoint.home("bob").is_dir()
    assert _tree(endpoint.home("bob")) == filled


@pytest.mark.parametrize(
    ("source", "target", "refusal"),
    [
        ("d/f.txt", "d", "550"),  # a file onto its own folder
        ("keep.txt", "d", "550 A folder of that name exists"),
        ("d", "keep.txt", "550 A file of that name exists"),
    ],
    ids=["file-onto-its-folder", "file-onto-folder", "folder-onto-file"],
)
def test_rename_onto_something_else_is_refused_and_keeps_both(
    ftp: ftplib.FTP_TLS,
    endpoint: FtpEndpoint,
    filled: list[str],
    source: str,
    target: str,
    refusal: str,
) -> None:
    ftp.sendcmd(f"RNFR {source}")
    with pytest.raises(ftplib.error_perm, match=refusal):
        ftp.sendcmd(f"RNTO {target}")
    assert _tree(endpoint.home("bob")) == filled


def test_rename_a_file_onto_a_file_replaces_it(
    ftp: ftplib.FTP_TLS, endpoint: FtpEndpoint, filled: list[str]
) -> None:
    ftp.sendcmd("RNFR keep.txt")
    ftp.sendcmd("RNTO d/f.txt")
    assert (endpoint.home("bob") / "d" / "f.txt").read_bytes() == b"beside"
    assert not (endpoint.home("bob") / "keep.txt").exists()


def test_a_name_the_server_refuses_gets_the_servers_reason(ftp: ftplib.FTP_TLS) -> None:
    with pytest.raises(ftplib.error_perm, match=r"550 MKCOL failed .*longer than 255 bytes"):
        ftp.mkd("n" * 300)


def test_upload_locks_are_not_kept_for_every_path_ever_uploaded(tmp_path: Path) -> None:
    """Each STOR serialises uploads of its target with a lock; a long-running gateway that
    receives new file names every hour must not keep one lock per name forever."""
    config = "gateways: {ftp: {enabled: true, port: 0, allow_plain_login: true}}\n"
    with inprocess_app(tmp_path, config) as app:
        gateway = FtpGateway(app.context.settings, app.wsgi)
        host, port = gateway.start()
        try:
            client = ftplib.FTP(timeout=30)
            client.connect(host, port)
            client.login("bob", USERS["bob"])
            for n in range(20):
                client.storbinary(f"STOR hourly-{n}.csv", io.BytesIO(b"%d\n" % n))
            client.quit()
        finally:
            gateway.stop()
        assert (app.context.settings.files_dir / "bob" / "hourly-19.csv").read_bytes() == b"19\n"
    gc.collect()
    assert len(staging._busy) == 0


def test_append_keeps_working_once_the_file_is_larger_than_one_put(tmp_path: Path) -> None:
    """``limits.max_put_bytes`` bounds one transfer (one chunk); APPE restages the stored
    file before the new bytes, which must not count as one transfer of the whole file."""
    config = (
        "limits: {max_put_bytes: 100000}\n"
        "gateways: {ftp: {enabled: true, port: 0, allow_plain_login: true}}\n"
    )
    with inprocess_app(tmp_path, config) as app:
        gateway = FtpGateway(app.context.settings, app.wsgi)
        host, port = gateway.start()
        try:
            client = ftplib.FTP(timeout=30)
            client.connect(host, port)
            client.login("bob", USERS["bob"])
            pieces = [bytes([65 + n]) * 90_000 for n in range(4)]
            for piece in pieces:
                client.storbinary("APPE log.txt", io.BytesIO(piece))
            with pytest.raises(ftplib.error_perm, match=r"550 .*too large"):
                client.storbinary("APPE log.txt", io.BytesIO(b"z" * 150_000))
            client.quit()
        finally:
            gateway.stop()
        stored = app.context.settings.files_dir / "bob" / "log.txt"
        assert stored.read_bytes() == b"".join(pieces)


@pytest.mark.parametrize("onto", ["d/sub", "d"])
def test_rename_a_folder_into_itself_says_so(
    ftp: ftplib.FTP_TLS, endpoint: FtpEndpoint, filled: list[str], onto: str
) -> None:
    ftp.sendcmd("RNFR d")
    with pytest.raises(ftplib.error_perm, match="550 Cannot move a folder onto itself or into"):
        ftp.sendcmd(f"RNTO {onto}")
    assert _tree(endpoint.home("bob")) == filled


def test_a_modification_time_past_what_the_server_stores_is_refused(
    ftp: ftplib.FTP_TLS, filled: list[str]
) -> None:
    with pytest.raises(ftplib.error_perm, match="550 The modification time is out of range"):
        ftp.sendcmd("MFMT 99991231235959 keep.txt")
    assert ftp.size("keep.txt") == len(b"beside")
    assert sorted(ftp.nlst("/")) == ["d", "keep.txt"]
    assert ftp.sendcmd("MFMT 20200101000000 keep.txt").startswith("213")
