"""A loopback peer that answers a byte at a time (a slow or hostile webhook or mail relay)."""

from __future__ import annotations

import socket
import threading


class TricklingPeer:
    """A loopback peer that reads the client's first bytes (when ``head`` is not empty),
    sends ``head``, then one byte of ``rest`` every ``step`` seconds until the client goes
    away (a slow or hostile webhook endpoint or mail relay)."""

    def __init__(self, head: bytes, rest: bytes, step: float = 0.1) -> None:
        self.head, self.rest, self.step = head, rest, step
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                try:
                    if self.head:  # HTTP: the request first; SMTP: the server speaks first
                        conn.recv(65536)
                        conn.sendall(self.head)
                    for i in range(len(self.rest)):
                        if self.stop.wait(self.step):
                            return
                        conn.sendall(self.rest[i : i + 1])
                except OSError:
                    continue

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.sock.close()
