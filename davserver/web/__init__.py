"""davsync's own web surfaces: the operator status page, the listing pages, ``/metrics``,
``/healthz`` and the access log (``front.WebFront`` builds them for one server)."""
