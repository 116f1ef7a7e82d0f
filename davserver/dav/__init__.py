"""WebDAV layer: WsgiDAV integration (lock and dead-property storage shared by processes)."""
