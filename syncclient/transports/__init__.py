"""Transports: how bytes reach a server. ``base`` holds the protocol and the error tree;
``webdav`` is the httpx implementation (the only place httpx is imported)."""

from __future__ import annotations

from syncclient.transports.base import (
    AuthError,
    PutResult,
    ServerInfo,
    SetupError,
    StalledError,
    StatusError,
    Transport,
    TransportError,
    UnreachableError,
    WrongURLError,
)

__all__ = [
    "AuthError",
    "PutResult",
    "ServerInfo",
    "SetupError",
    "StalledError",
    "StatusError",
    "Transport",
    "TransportError",
    "UnreachableError",
    "WrongURLError",
]
