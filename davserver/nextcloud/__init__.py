"""What the Nextcloud and ownCloud desktop clients ask for besides WebDAV.

``status.php`` (unauthenticated server status), the OCS ``cloud/capabilities`` and
``cloud/user`` endpoints (``payloads`` builds the data, ``ocs`` renders the OCS envelope and
serves the requests from a middleware placed after authentication).
"""
