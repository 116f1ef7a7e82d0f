"""The S3 provider on a real Ceph radosgw: the sweeper deletes exactly the objects nothing
references (replaced, deleted, orphaned by an upload that never committed) once they are older
than the grace period, aborts stale multipart uploads, and keeps shared and current objects;
an object store that is down fails a commit with StorageUnavailableError and changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from providers.errors import StorageUnavailableError
from providers.s3 import S3Access, S3Provider
from tests.support.ceph import S3Target

pytestmark = pytest.mark.s3


@pytest.fixture()
def s3(s3_target: S3Target, tmp_path: Path) -> Iterator[S3Provider]:
    cluster = s3_target.cluster
    access = S3Access(cluster.endpoint, cluster.region, cluster.access_key, cluster.secret_key)
    provider = S3Provider(s3_target.url, access, tmp_path / "state")
    yield provider
    provider.close()


def put(provider: S3Provider, path: str, data: bytes) -> None:
    handle = provider.begin_write(path)
    handle.write(data)
    handle.commit()


def stored_keys(provider: S3Provider) -> set[str]:
    return {o.key for o in provider.objects.list_objects()}


def key_of(provider: S3Provider, path: str) -> str:
    with provider.open_read(path):
        pass
    row = provider.db.conn().execute("SELECT object_key FROM s3_nodes WHERE path = ?", (path,))
    return str(row.fetchone()[0])


def test_sweeper_removes_only_unreferenced_objects(s3: S3Provider) -> None:
    put(s3, "replaced", b"first version")
    first = key_of(s3, "replaced")
    put(s3, "replaced", b"second version")
    current = key_of(s3, "replaced")
    put(s3, "deleted", b"gone soon")
    deleted = key_of(s3, "deleted")
    s3.delete("deleted")
    put(s3, "shared", b"copied, then the source deleted")
    shared = key_of(s3, "shared")
    s3.copy("shared", "copy", overwrite=False)
    s3.delete("shared")
    orphan = s3.objects.new_key()  # an upload whose commit never happened
    s3.objects.client.put_object(Bucket=s3.objects.bucket, Key=orphan, Body=b"orphan")
    pending = s3.objects.client.create_multipart_upload(
        Bucket=s3.objects.bucket, Key=s3.objects.new_key()
    )
    assert {first, current, deleted, shared, orphan} <= stored_keys(s3)

    untouched = s3.sweep(grace_s=3600)  # nothing is old enough yet
    assert (untouched.released, untouched.orphans, untouched.uploads_aborted) == (0, 0, 0)
    assert {first, deleted, orphan} <= stored_keys(s3)

    report = s3.sweep(grace_s=0)
    assert report.released == 2  # first and deleted; shared is still referenced by the copy
    assert report.orphans == 1 and report.uploads_aborted >= 1
    assert stored_keys(s3) == {current, shared}
    uploads = {u.upload_id for u in s3.objects.list_uploads()}
    assert pending["UploadId"] not in uploads
    with s3.open_read("replaced") as reader:
        assert reader.read() == b"second version"
    with s3.open_read("copy") as reader:
        assert reader.read() == b"copied, then the source deleted"
    assert s3.sweep(grace_s=0) == type(report)(0, 0, 0)


def test_commit_while_the_store_is_down_changes_nothing(
    s3: S3Provider, s3_target: S3Target
) -> None:
    put(s3, "a.txt", b"v1")
    before = s3.stat("a.txt")
    handle = s3.begin_write("a.txt")
    handle.write(b"v2 while radosgw is down")
    s3_target.cluster.stop_rgw(kill=True)
    try:
        with pytest.raises(StorageUnavailableError):
            handle.commit()
        assert s3.stat("a.txt") == before
        assert [e.name for e in s3.listdir("")] == ["a.txt"]
        with pytest.raises(StorageUnavailableError):
            s3.open_read("a.txt")
    finally:
        s3_target.cluster.start_rgw()
    with s3.open_read("a.txt") as reader:
        assert reader.read() == b"v1"
    put(s3, "a.txt", b"v2 after the restart")
    with s3.open_read("a.txt") as reader:
        assert reader.read() == b"v2 after the restart"
