"""cheroot's WSGI 1.0 gateway, able to send a file body with ``socket.sendfile``.

On plain-HTTP connections the environ carries ``davserver.http.sendfile.SENDFILE_KEY``; a
response that offered a ``SendfileJob`` and then yields an empty chunk has its file copied by
the kernel (``os.sendfile``) instead of through Python. The job is taken only when the
response has started, its ``Content-Length`` equals the job's byte count and the body is not
chunked; otherwise the response sends the bytes itself. A client that goes away mid-file
raises the same socket error a normal write would (cheroot closes the connection quietly); a
file shorter than promised closes the connection, so the client sees a short body rather
than a misframed next response. The socket's timeout bounds every wait of ``sendfile``.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from cheroot import wsgi

from davserver.http.sendfile import SENDFILE_KEY, SENT_KEY, SendfileJob


class SendfileStats:
    """How many responses were sent with ``sendfile`` (for tests and diagnostics)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.files = 0

    def count(self) -> None:
        with self._lock:
            self.files += 1


STATS = SendfileStats()


class SendfileGateway(wsgi.Gateway_10):
    """See the module docstring."""

    def __init__(self, req: Any) -> None:
        self._job: SendfileJob | None = None
        super().__init__(req)

    def get_environ(self) -> dict[str, Any]:  # type: ignore[override]  # stub says None
        env: dict[str, Any] = super().get_environ()  # type: ignore[no-untyped-call]
        if self.req.server.ssl_adapter is None:
            env[SENDFILE_KEY] = self._offer
        return env

    def _offer(self, job: SendfileJob) -> None:
        self._job = job

    def respond(self) -> None:
        """cheroot's ``respond``, except that an empty chunk may send an offered file."""
        response = self.req.server.wsgi_app(self.env, self.start_response)
        try:
            for chunk in response:
                if not chunk:
                    self._send_offered()
                    continue
                if not isinstance(chunk, bytes):
                    raise ValueError("WSGI Applications must yield bytes")
                self.write(chunk)
        finally:
            self.req.ensure_headers_sent()
            if hasattr(response, "close"):
                response.close()

    def _send_offered(self) -> None:
        job, self._job = self._job, None
        if job is None or not job.offered or not self.started_response:
            return
        sock = self.req.conn.socket
        if self.remaining_bytes_out != job.count or self.req.sent_headers:
            return
        if sock.gettimeout() == 0:  # socket.sendfile refuses non-blocking sockets
            return
        self.req.ensure_headers_sent()
        if self.req.chunked_write:  # pragma: no cover - Content-Length was set above
            return
        wfile = self.req.conn.wfile
        wfile.flush()
        job.taken = True
        try:
            job.sent = sock.sendfile(job.file, job.offset, job.count)
        except BaseException:
            with contextlib.suppress(OSError, ValueError):
                job.sent = max(0, job.file.tell() - job.offset)
            self.req.close_connection = True
            raise
        finally:
            self.env[SENT_KEY] = int(self.env.get(SENT_KEY, 0)) + job.sent
            if hasattr(wfile, "bytes_written"):  # cheroot's statistics
                wfile.bytes_written += job.sent
        STATS.count()
        if job.sent != job.count:
            self.req.close_connection = True
