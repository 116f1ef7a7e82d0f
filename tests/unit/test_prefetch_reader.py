"""PrefetchReader.readline returns what the inherited (cheroot / ``_pyio``) readline returns,
line by line, whether the bytes were fed ahead of time, are buffered, or still on the
socket, and counts them the same way."""

from __future__ import annotations

import random
import socket
from collections.abc import Callable, Iterator

import pytest
from cheroot.makefile import StreamReader

from davserver.head_reader import PrefetchReader

HEAD = (
    b"PUT /remote.php/dav/files/a/x.bin HTTP/1.1\r\nHost: h\r\nContent-Length: 12\r\n"
    b"Authorization: Basic YTpi\r\n\r\nhello\nworld\n"
)
ReadLine = Callable[[PrefetchReader, int], bytes]


@pytest.fixture
def sockets() -> Iterator[list[socket.socket]]:
    opened: list[socket.socket] = []
    yield opened
    for sock in opened:
        sock.close()


def _run(
    sockets: list[socket.socket], rng: random.Random, readline: ReadLine
) -> tuple[list[bytes], int]:
    sizes = [rng.choice([-1, -1, 3, 10, 100]) for _ in range(8)]
    split = rng.randint(0, len(HEAD))
    bufsize = rng.choice([16, 64, 8192])
    a, b = socket.socketpair()
    sockets.extend((a, b))
    reader = PrefetchReader(a, bufsize=bufsize)
    reader.feed(HEAD[:split])  # read ahead by the selector thread
    b.sendall(HEAD[split:])  # the rest still on the socket
    b.shutdown(socket.SHUT_WR)
    lines = [readline(reader, size) for size in sizes]
    lines.append(reader.read(4))  # type: ignore[no-untyped-call]  # untyped in cheroot
    return lines, reader.bytes_read


@pytest.mark.parametrize("seed", range(30))
def test_same_lines_and_byte_count_as_the_inherited_readline(
    sockets: list[socket.socket], seed: int
) -> None:
    ours = _run(sockets, random.Random(seed), PrefetchReader.readline)
    inherited = _run(sockets, random.Random(seed), StreamReader.readline)
    assert ours == inherited
    assert b"".join(ours[0]) == HEAD[: len(b"".join(ours[0]))]
