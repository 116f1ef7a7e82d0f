# Type stubs for the part of WsgiDAV 4.4 that davsync uses (see typings/README.md).
