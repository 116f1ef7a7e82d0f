"""A throwaway PostgreSQL cluster for the tests that need a real one.

``postgres_fixture`` starts one cluster per test session (``interop.postgres``) and yields it;
a test database per test keeps tests independent (``fresh_database``). Without PostgreSQL
installed the tests skip with the reason on a developer machine and fail under CI=true, where
``make tools`` installs it (``interop.tools.require``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import psycopg

from interop.postgres import Cluster, find_postgres_bin, postgres_cluster
from interop.tools import require

_names = itertools.count(1)


def running_cluster() -> Iterator[Cluster]:
    """A cluster for the session (in a folder of its own the ``postgres`` user can reach);
    skips (or fails under CI) without PostgreSQL."""
    require(find_postgres_bin)
    with postgres_cluster() as cluster:
        yield cluster


def fresh_database(cluster: Cluster) -> str:
    """The URL of a new, empty database on ``cluster``."""
    name = f"t{next(_names)}"
    with psycopg.connect(cluster.url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return cluster.url.rsplit("/", 1)[0] + "/" + name
