"""``PrefetchReader.read`` of a large size (the body of a PUT): exact bytes across what is
buffered, what was fed ahead and what still arrives on the socket in small pieces; short
only at EOF; counted in ``bytes_read``."""

from __future__ import annotations

import os
import socket
import threading

import pytest

from davserver.head_reader import LARGE_READ, PrefetchReader


def send_in_pieces(sock: socket.socket, data: bytes, piece: int) -> threading.Thread:
    def run() -> None:
        for i in range(0, len(data), piece):
            sock.sendall(data[i : i + piece])
        sock.shutdown(socket.SHUT_WR)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("piece", [1000, 65536, 300_001])
def test_large_reads_return_exact_bytes_across_buffer_prefix_and_socket(piece: int) -> None:
    head = b"PUT /f HTTP/1.1\r\nContent-Length: x\r\n\r\n"
    fed = os.urandom(5000)
    body = os.urandom(3 * LARGE_READ + 12345)
    a, b = socket.socketpair()
    with a, b:
        a.settimeout(30)
        reader = PrefetchReader(a)
        reader.feed(head + fed)
        sender = send_in_pieces(b, body, piece)
        assert reader.readline() == b"PUT /f HTTP/1.1\r\n"  # fills the 8 KiB buffer
        assert reader.readline() == b"Content-Length: x\r\n"
        assert reader.readline() == b"\r\n"
        before = reader.bytes_read
        stream = fed + body
        first = reader.read(LARGE_READ + 1)  # buffered + the rest of fed + socket bytes
        assert isinstance(first, bytes)
        second = reader.read(LARGE_READ)
        small = reader.read(100)  # below LARGE_READ: the buffered path
        rest = reader.read(10 * LARGE_READ)  # more than is left: short at EOF
        assert first + second + small + rest == stream
        assert len(first) == LARGE_READ + 1 and len(second) == LARGE_READ
        assert reader.read(LARGE_READ) == b""
        assert reader.bytes_read - before == len(stream)
        sender.join(30)


def test_large_read_smaller_than_what_is_buffered_keeps_the_rest() -> None:
    a, b = socket.socketpair()
    with a, b:
        reader = PrefetchReader(a, bufsize=4 * LARGE_READ)
        data = os.urandom(3 * LARGE_READ)
        b.sendall(data)
        b.shutdown(socket.SHUT_WR)
        assert reader.read(10) == data[:10]  # buffers up to 4 * LARGE_READ
        assert reader.read(LARGE_READ) == data[10 : 10 + LARGE_READ]
        assert reader.read(-1) == data[10 + LARGE_READ :]


def test_a_large_read_that_times_out_raises() -> None:
    a, b = socket.socketpair()
    with a, b:
        a.settimeout(0.2)
        reader = PrefetchReader(a)
        b.sendall(b"x" * 100)
        with pytest.raises(TimeoutError):
            reader.read(LARGE_READ)
