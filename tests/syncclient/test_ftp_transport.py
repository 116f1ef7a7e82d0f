"""syncclient's ftp transport against the real FTPS gateway."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trustme

from syncclient.transports import ftp as ftp_transport
from syncclient.transports.base import AuthError, SetupError
from syncclient.transports.ftp import FtpOptions, FtpTransport
from tests.support.configured import USERS
from tests.support.ftp import FtpEndpoint, start_ftp_server
from tests.syncclient.conftest import ClientResult, write_tree

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FtpEndpoint]:
    ep = start_ftp_server(tmp_path_factory.mktemp("ftp-sync"), trustme.CA())
    yield ep
    ep.server.stop()


def _url(endpoint: FtpEndpoint, folder: str) -> str:
    return f"ftps://{endpoint.host}:{endpoint.port}/{folder}/"


def _transport(endpoint: FtpEndpoint, folder: str, password: str | None = None) -> FtpTransport:
    return FtpTransport(
        FtpOptions(
            url=_url(endpoint, folder),
            user="alice",
            password=password or USERS["alice"],
            ca_bundle=endpoint.ca_file,
        )
    )


def test_sync_over_ftps_verifies_by_hash(
    endpoint: FtpEndpoint, sync: Callable[..., ClientResult], tmp_path: Path
) -> None:
    src = tmp_path / "src"
    files = {
        "a.csv": b"x,y\n" * 10_000,
        "sub/deeper/b.bin": os.urandom(700_000),
        "empty.txt": b"",
        "name with spaces.txt": b"spaces",
    }
    write_tree(src, files)
    url = _url(endpoint, "ftp-sync")
    first = sync(src, url, "--ca-bundle", str(endpoint.ca_file))
    assert first.code == 0, first.stderr + first.stdout
    verified = {e["path"] for e in first.events() if e["event"] == "verified"}
    assert verified == set(files)
    home = endpoint.home("alice") / "ftp-sync"
    for rel, data in files.items():
        assert (home / rel).read_bytes() == data
    again = sync(src, url, "--ca-bundle", str(endpoint.ca_file))
    assert again.code == 0, again.stderr + again.stdout
    assert again.summary()["nothing_transferred"] is True
    inventory = _transport(endpoint, "ftp-sync").inventory()
    assert inventory.files["a.csv"].sha256 == hashlib.sha256(files["a.csv"]).hexdigest()
    assert inventory.dirs == frozenset({"sub", "sub/deeper"})


class _DroppingBody:
    """A file body whose first pass fails halfway, as a dropped connection would."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.passes = 0

    def __iter__(self) -> Iterator[bytes]:
        self.passes += 1
        for start in range(0, len(self.data), 65536):
            if self.passes == 1 and start >= len(self.data) // 2:
                raise ConnectionResetError("connection dropped")
            yield self.data[start : start + 65536]


def test_put_resumes_with_rest_after_a_drop(
    endpoint: FtpEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    transport = _transport(endpoint, "resume")
    transport.make_collection()
    offsets: list[int] = []
    real = ftp_transport._resume_offset

    def spy(ftp: object, remote: str, length: int) -> int:
        offsets.append(real(ftp, remote, length))  # type: ignore[arg-type]
        return offsets[-1]

    monkeypatch.setattr(ftp_transport, "_resume_offset", spy)
    data = os.urandom(3_000_000)
    digest = hashlib.sha256(data).hexdigest()
    result = transport.put("big.bin", _DroppingBody(data), len(data), "", 1_700_000_000)
    transport.close()
    assert result.hashes == {"sha256": digest}
    assert offsets and 0 < offsets[0] <= len(data) // 2
    assert (endpoint.home("alice") / "resume" / "big.bin").read_bytes() == data
    assert int((endpoint.home("alice") / "resume" / "big.bin").stat().st_mtime) == 1_700_000_000


def test_wrong_password_and_plain_ftp_are_refused(endpoint: FtpEndpoint) -> None:
    with pytest.raises(AuthError):
        _transport(endpoint, "x", password="wrong").probe()
    with pytest.raises(SetupError, match="unencrypted"):
        FtpTransport(FtpOptions(url=f"ftp://{endpoint.host}:{endpoint.port}/x/"))
    untrusted = FtpTransport(
        FtpOptions(url=_url(endpoint, "x"), user="alice", password=USERS["alice"])
    )
    with pytest.raises(SetupError, match="certificate"):
        untrusted.probe()
