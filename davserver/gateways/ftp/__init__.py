"""The FTP/FTPS gateway (pyftpdlib): FTP commands as in-process WebDAV requests.

Modules: ``auth`` (logins through the server's own authentication and throttle), ``dav``
(one login's WebDAV requests), ``fs`` (pyftpdlib's filesystem over them), ``staging``
(resumable, atomically committed uploads), ``handler`` (HASH commands, upload commits),
``server`` (the listener thread started by ``davserver serve``).
"""
