"""Ways in besides WebDAV (HTML form, FTP, e-mail), all through one policy path.

Every gateway turns what its protocol asks for into ordinary WebDAV requests against the
server's own WSGI application (``inprocess.InProcessClient``), so authentication, login
throttling, homes and grants, locks, limits, reserve, hash verification, the atomic commit
and the arrival journal are the very code a PUT from the network runs. No gateway touches the
provider, the user store or the lock store directly.
"""
