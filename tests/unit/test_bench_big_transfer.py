"""bench.big_transfer: curl (or, without it, the Python client) sends the whole file and
reads whole bodies, and a failed or short transfer is an error, never a number (a
deliberately misbehaving peer: pytest-httpserver)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from bench.big_transfer import BigTransfer, TransferError, big_file
from interop.tools import require_tool

pytestmark = pytest.mark.unit

SIZE = 3 * 1024 * 1024 + 17


@pytest.fixture(params=["curl", "python"])
def transfer(request: pytest.FixtureRequest) -> Iterator[BigTransfer]:
    with big_file(SIZE) as body:
        big = BigTransfer(body, "u", "p")
        if request.param == "curl":
            require_tool("curl")
            assert big.curl is not None and "curl" in big.client
        else:
            big.curl = None
            assert "curl is missing" in big.client
        yield big


def test_big_file_is_what_its_digest_says_and_goes_away() -> None:
    with big_file(SIZE) as body:
        data = body.path.read_bytes()
        assert len(data) == body.size == SIZE
        assert hashlib.sha256(data).hexdigest() == body.sha256
    assert not body.path.exists()


def test_put_sends_every_byte_with_basic_auth(
    transfer: BigTransfer, httpserver: HTTPServer
) -> None:
    seen: list[tuple[int, str, str | None, str | None]] = []

    def handler(request: Request) -> Response:
        data = request.get_data()
        seen.append(
            (
                len(data),
                hashlib.sha256(data).hexdigest(),
                request.headers.get("Authorization"),
                request.headers.get("Expect"),
            )
        )
        return Response("", status=201)

    httpserver.expect_request("/big.bin", method="PUT").respond_with_handler(handler)
    with httpx.Client(auth=httpx.BasicAuth("u", "p")) as c:
        seconds = transfer.put(c, httpserver.url_for("/big.bin"))
    assert seconds > 0
    assert seen == [(SIZE, transfer.body.sha256, "Basic dTpw", None)]


def test_failed_put_is_an_error(transfer: BigTransfer, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/big.bin", method="PUT").respond_with_data("no", status=507)
    with httpx.Client() as c, pytest.raises((TransferError, httpx.HTTPStatusError)):
        transfer.put(c, httpserver.url_for("/big.bin"))


def test_get_counts_the_bytes_and_a_missing_file_is_an_error(
    transfer: BigTransfer, httpserver: HTTPServer, tmp_path: Path
) -> None:
    httpserver.expect_request("/big.bin", method="GET").respond_with_data(b"x" * 12345)
    httpserver.expect_request("/gone.bin", method="GET").respond_with_data("", status=404)
    with httpx.Client() as c:
        seconds, got = transfer.get(c, httpserver.url_for("/big.bin"))
        assert seconds > 0 and got == 12345
        with pytest.raises((TransferError, httpx.HTTPStatusError)):
            transfer.get(c, httpserver.url_for("/gone.bin"))
