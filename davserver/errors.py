"""The root of every exception the server raises itself.

Naming rule (the whole project): an exception class ends in ``Error``; each package has one
root its own exceptions derive from (``DavserverError`` here, ``providers.errors.ProviderError``,
``syncclient.SyncClientError``, ``davtools.inventory.InventoryError``); whether retrying can
help is the ``transient`` attribute (True: try again later), never its opposite.
"""

from __future__ import annotations

__all__ = ["DavserverError"]


class DavserverError(Exception):
    """Base of the server's own exceptions (``except DavserverError`` catches them all)."""
