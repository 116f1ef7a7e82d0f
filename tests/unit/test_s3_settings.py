"""The S3 storage settings: the ``storage:`` URL, the ``s3:`` block and the credentials file
are read as documented, bad values are refused with a sentence naming them, and an
unreachable store becomes ``503`` with ``Retry-After`` (no Ceph needed here)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from davserver.dav.errors import to_dav_error
from davserver.settings import SettingsError, load_settings
from interop.tools import free_port
from providers.errors import StorageIOError, StorageUnavailableError
from providers.s3 import S3Access, S3ConfigError, S3Location
from providers.s3.objects import map_s3_error

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("url", "bucket", "prefix"),
    [("s3://bucket", "bucket", ""), ("s3://my.bucket/a/b/", "my.bucket", "a/b")],
)
def test_location_parse(url: str, bucket: str, prefix: str) -> None:
    location = S3Location.parse(url)
    assert (location.bucket, location.prefix) == (bucket, prefix)
    assert location.key("o/x") == (f"{prefix}/o/x" if prefix else "o/x")


@pytest.mark.parametrize("url", ["http://bucket/x", "s3://", "s3://UPPER/x", "s3://ab/x"])
def test_location_refuses_bad_urls(url: str) -> None:
    with pytest.raises(S3ConfigError):
        S3Location.parse(url)


def test_credentials_file(tmp_path: Path) -> None:
    creds = tmp_path / "credentials"
    creds.write_text(
        "[default]\naws_access_key_id = AK\naws_secret_access_key = SK\n"
        "[other]\naws_access_key_id = AK2\n",
        encoding="utf-8",
    )
    assert S3Access(credentials_file=creds).keys() == ("AK", "SK")
    with pytest.raises(S3ConfigError, match="aws_secret_access_key"):
        S3Access(credentials_file=creds, profile="other").keys()
    with pytest.raises(S3ConfigError, match=r"no \[missing\] section"):
        S3Access(credentials_file=creds, profile="missing").keys()
    with pytest.raises(S3ConfigError, match="cannot read"):
        S3Access(credentials_file=tmp_path / "absent").keys()
    assert S3Access().keys() == (None, None)  # boto3 then reads AWS_* itself


def test_settings_storage_and_s3_block(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "storage: s3://bucket/prefix\ns3:\n  endpoint: http://127.0.0.1:7480\n"
        "  region: eu-1\n  credentials_file: /etc/davsync/s3\n  sweep_interval_s: 0\n",
        encoding="utf-8",
    )
    settings = load_settings(config, environ={})
    assert settings.storage == "s3://bucket/prefix"
    assert settings.s3.endpoint == "http://127.0.0.1:7480" and settings.s3.region == "eu-1"
    assert settings.s3.credentials_file == Path("/etc/davsync/s3")
    assert settings.s3.sweep_interval_s == 0 and settings.s3.grace_s == 3600
    assert load_settings(environ={"DAVSYNC_STORAGE": "s3://b12/p"}).storage == "s3://b12/p"
    assert load_settings(environ={}).storage is None


def test_settings_refuse_a_storage_that_is_not_s3() -> None:
    with pytest.raises(SettingsError, match="storage"):
        load_settings(environ={"DAVSYNC_STORAGE": "/srv/files"})


def test_unreachable_store_is_503_with_retry_after() -> None:
    from botocore.exceptions import EndpointConnectionError

    error = map_s3_error(EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), "upload")
    assert isinstance(error, StorageUnavailableError)
    dav = to_dav_error(error)
    assert dav.value == 503
    assert ("Retry-After", str(error.retry_after_s)) in (dav.add_headers or [])
    assert to_dav_error(StorageIOError("disk")).value == 500


def test_unreachable_store_at_start_is_one_clear_line(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    port = free_port()  # nothing listens there
    config.write_text(f"storage: s3://bucket1/x\ns3:\n  endpoint: http://127.0.0.1:{port}\n")
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}
    done = subprocess.run(
        [sys.executable, "-m", "davserver.cli", "serve", "--root", str(tmp_path / "root"),
         "--port", "0", "--config", str(config)],
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "error: storage s3://bucket1/x:" in done.stderr and "cannot be reached" in done.stderr
    assert "Traceback" not in done.stderr
