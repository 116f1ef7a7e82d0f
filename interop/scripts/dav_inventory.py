#!/usr/bin/env python3
"""Runs ``davsync-inventory`` (``davtools/inventory.py``, installed with davsync) for
scripts that call this file directly; see that module for the options."""

from __future__ import annotations

import sys

from davtools.inventory import main

if __name__ == "__main__":
    sys.exit(main())
