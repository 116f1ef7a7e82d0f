"""The contract between a WSGI response and a server that can send a file with ``sendfile``.

WSGI's ``wsgi.file_wrapper`` only helps when the application's response object reaches the
server unchanged; every middleware here (and in WsgiDAV) iterates the response to count or
scope it, so the wrapper would be lost. Instead the server puts a callable under
``SENDFILE_KEY`` in the environ (plain HTTP only; never under TLS). A response that wants the
kernel to copy a whole file:

1. builds a ``SendfileJob`` for the open file and the byte span, and offers it with the
   callable (``offer_sendfile``);
2. yields one empty chunk; middlewares pass it through like any chunk;
3. when that empty chunk reaches the server while the job is offered, and the response's
   ``Content-Length`` equals the span, the server flushes the headers and sends the span
   with ``socket.sendfile`` and records what it sent in ``job.sent`` and in the environ
   (``SENT_KEY``, read by the access log);
4. after the yield the response withdraws the job: if it was taken, the body is complete (or
   the server raised the client's disconnect); otherwise it sends the bytes itself.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

SENDFILE_KEY = "davsync.sendfile"
SENT_KEY = "davsync.sendfile_sent"


@dataclass
class SendfileJob:
    """``count`` bytes of ``file`` from ``offset``; ``offered`` while the response waits at
    its empty chunk; ``taken`` once the server started sending; ``sent`` bytes sent."""

    file: IO[bytes]
    offset: int
    count: int
    offered: bool = False
    taken: bool = False
    sent: int = 0


Offer = Callable[[SendfileJob], None]


def _has_descriptor(file: IO[bytes]) -> bool:
    try:
        file.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        return False
    return True


def offer_sendfile(
    environ: dict[str, Any], file: IO[bytes], offset: int, count: int
) -> SendfileJob | None:
    """Offer ``count`` bytes of ``file`` from ``offset`` to the server (see the module doc);
    None when the server offers no ``sendfile`` or ``file`` has no descriptor. The caller
    yields ``b""`` next, sets ``job.offered = False`` after it and sends the bytes itself
    unless ``job.taken``."""
    offer: Offer | None = environ.get(SENDFILE_KEY)
    if offer is None or count <= 0 or not _has_descriptor(file):
        return None
    job = SendfileJob(file, offset, count, offered=True)
    offer(job)
    return job
