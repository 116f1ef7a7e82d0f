"""The compatibility lab: harness code that drives real third-party WebDAV clients (and
stock WebDAV servers) against davsync on loopback ports.

Each module wraps one client or server so that tests under ``tests/interop/`` stay short:

- ``tools``: finding installed tools, free ports, waiting for a port, why something can't run;
- ``miniredir``: replays Windows Explorer's (Microsoft-WebDAV-MiniRedir) request sequences;
- ``davfs``: mounts a share with davfs2 (FUSE) using a generated configuration;
- ``cadaver``: runs a scripted cadaver session;
- ``stock``: stock WsgiDAV and nginx's DAV module, for the sync client's harness;
- ``scripts/``: ``dav_inventory.py`` runs ``davsync-inventory`` (``davtools/inventory.py``).

The results and the setup each client needs are in ``docs/COMPATIBILITY.md``.
"""
