"""Upload-session chunks shared through a real Ceph radosgw (``SharedChunkBytes``): two
session stores with one database and separate local chunk folders (two servers) see each
other's chunks; removing a session removes its chunk objects; chunk objects of sessions that
no longer exist are cleaned up by the orphan sweep of any server; a chunk cannot be stored
while the store is down, and the session keeps what it had."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from davserver.uploads.chunk_bytes import SharedChunkBytes
from davserver.uploads.store import KIND_V1, SessionStore
from providers.errors import StorageUnavailableError
from providers.s3 import S3Access, S3Location
from providers.s3.location import make_client
from providers.s3.objects import ObjectStore
from tests.support.ceph import S3Target

pytestmark = pytest.mark.s3


def shared(target: S3Target) -> SharedChunkBytes:
    cluster = target.cluster
    access = S3Access(cluster.endpoint, cluster.region, cluster.access_key, cluster.secret_key)
    objects = ObjectStore(make_client(access), S3Location.parse(target.url))
    objects.ensure_bucket()
    return SharedChunkBytes(objects)


def stores(target: S3Target, tmp_path: Path) -> tuple[SessionStore, SessionStore]:
    db = tmp_path / "state.sqlite"
    a = SessionStore(db, tmp_path / "a-chunks", time.time, shared(target))
    b = SessionStore(db, tmp_path / "b-chunks", time.time, shared(target))
    return a, b


def chunk_keys(chunks: SharedChunkBytes) -> set[str]:
    client, bucket = chunks.objects.client, chunks.objects.bucket
    prefix = chunks.objects.location.key("u/")
    listed = client.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return {item["Key"] for item in listed.get("Contents", [])}


def add(store: SessionStore, name: str, data: bytes) -> None:
    session = store.get("alice", "s1")
    assert session is not None
    staged = store.stage(session)
    staged.write(data)
    store.add_chunk(session, name, staged, start=None, end=None, check=lambda s, c: None)


def test_chunks_travel_between_servers_and_go_with_the_session(
    s3_target: S3Target, tmp_path: Path
) -> None:
    a, b = stores(s3_target, tmp_path)
    a.create("alice", "s1", KIND_V1, max_active=10)
    add(a, "c1", b"first chunk, stored by a")
    add(b, "c2", b"second chunk, stored by b")
    session = b.get("alice", "s1")
    assert session is not None
    on_b = {c.name: b.chunk_path(session, c).read_bytes() for c in b.chunks("alice", "s1")}
    assert on_b == {"c1": b"first chunk, stored by a", "c2": b"second chunk, stored by b"}
    assert a.chunk_path(session, b.chunks("alice", "s1")[1]).read_bytes().startswith(b"second")
    objects = shared(s3_target)
    assert len(chunk_keys(objects)) == 2

    stray = objects.objects.location.key("u/" + "0" * 32 + "/x.chunk")
    objects.objects.client.put_object(Bucket=objects.objects.bucket, Key=stray, Body=b"stray")
    assert b.remove_orphan_directories() >= 1  # the stray folder (no session row)
    assert stray not in chunk_keys(objects) and len(chunk_keys(objects)) == 2

    a.delete("alice", "s1")
    assert chunk_keys(objects) == set()


def test_a_chunk_is_refused_while_the_store_is_down(s3_target: S3Target, tmp_path: Path) -> None:
    a, _ = stores(s3_target, tmp_path)
    a.create("alice", "s1", KIND_V1, max_active=10)
    add(a, "c1", b"kept")
    s3_target.cluster.stop_rgw(kill=True)
    try:
        with pytest.raises(StorageUnavailableError):
            add(a, "c2", b"refused")
    finally:
        s3_target.cluster.start_rgw()
    assert [c.name for c in a.chunks("alice", "s1")] == ["c1"]
    add(a, "c2", b"accepted after the restart")
    assert [c.name for c in a.chunks("alice", "s1")] == ["c1", "c2"]
