"""davsync server: the WebDAV front end and its server-side state."""
