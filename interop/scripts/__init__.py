"""Stand-alone example scripts (each runs with Python 3.11 and httpx only)."""
