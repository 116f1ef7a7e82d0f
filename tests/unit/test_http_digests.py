"""Integrity fields: OC-Checksum, Content-Digest / Repr-Digest, Digest, Content-MD5."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from davserver.http.digests import (
    DigestHeaderError,
    expected_digests_from_headers,
    oc_checksum_header,
    parse_content_md5,
    parse_digest_fields,
    parse_legacy_digest,
    parse_oc_checksum,
    repr_digest_header,
)
from providers.hashing import Digests, hash_chunks

pytestmark = pytest.mark.unit

PROPERTY = settings(database=None, deadline=None, max_examples=300)

# RFC 9530 appendix B: the representation {"hello": "world"}.
HELLO = b'{"hello": "world"}'
HELLO_SHA256_B64 = "X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE="
HELLO_SHA512_B64 = (
    "WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew=="
)
D = hash_chunks([HELLO])


def b64(hex_digest: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_digest)).decode()


# --- OC-Checksum -------------------------------------------------------------------------


def test_oc_checksum_single_and_multiple_tokens() -> None:
    assert parse_oc_checksum(f"SHA1:{D.sha1}") == {"sha1": D.sha1}
    assert parse_oc_checksum(f"SHA1:{D.sha1.upper()} MD5:{D.md5} SHA256:{D.sha256}") == {
        "sha1": D.sha1,
        "md5": D.md5,
        "sha256": D.sha256,
    }
    assert parse_oc_checksum(f" sha1:{D.sha1},  Md5:{D.md5} ") == {"sha1": D.sha1, "md5": D.md5}
    assert parse_oc_checksum(D.as_oc_checksums()) == {
        "sha1": D.sha1,
        "md5": D.md5,
        "sha256": D.sha256,
    }


def test_oc_checksum_other_algorithms_are_kept_under_their_normalized_name() -> None:
    assert parse_oc_checksum("ADLER32:0A1B2C3D") == {"adler32": "0a1b2c3d"}
    assert parse_oc_checksum("SHA-256:" + D.sha256) == {"sha256": D.sha256}
    assert parse_oc_checksum("FOO:Bar+baz") == {"foo": "Bar+baz"}


def test_oc_checksum_blank_is_empty() -> None:
    assert parse_oc_checksum("") == {}
    assert parse_oc_checksum("  ") == {}


@pytest.mark.parametrize(
    "value",
    [
        "SHA1",
        "SHA1:",
        ":abc",
        "SHA1:xyz",
        f"SHA1:{D.sha1}0",
        f"SHA1:{D.md5}",
        "MD5:" + "g" * 32,
        "ADLER32:123",
        f"SHA1:{D.sha1} SHA1:{'0' * 40}",
    ],
)
def test_oc_checksum_malformed(value: str) -> None:
    with pytest.raises(DigestHeaderError, match="OC-Checksum"):
        parse_oc_checksum(value)


def test_oc_checksum_repeated_identical_token_is_fine() -> None:
    assert parse_oc_checksum(f"SHA1:{D.sha1} SHA1:{D.sha1.upper()}") == {"sha1": D.sha1}


# --- Content-Digest / Repr-Digest ---------------------------------------------------------


def test_digest_fields_rfc_9530_examples() -> None:
    assert parse_digest_fields(f"sha-256=:{HELLO_SHA256_B64}:") == {"sha256": D.sha256}
    both = parse_digest_fields(f"sha-256=:{HELLO_SHA256_B64}:, sha-512=:{HELLO_SHA512_B64}:")
    assert both == {"sha256": D.sha256, "sha512": hashlib.sha512(HELLO).hexdigest()}


def test_digest_fields_other_spellings() -> None:
    assert parse_digest_fields(f"md5=:{b64(D.md5)}:,sha=:{b64(D.sha1)}:") == {
        "md5": D.md5,
        "sha1": D.sha1,
    }
    assert parse_digest_fields(f"SHA-256=:{HELLO_SHA256_B64}:") == {"sha256": D.sha256}
    assert parse_digest_fields(f"sha-256=:{HELLO_SHA256_B64.rstrip('=')}:") == {"sha256": D.sha256}
    assert parse_digest_fields(f"sha-256=:{HELLO_SHA256_B64}:;p=1;q=?0") == {"sha256": D.sha256}
    assert parse_digest_fields("crc32c=:AAAAAA==:") == {"crc32c": "00000000"}
    assert parse_digest_fields("") == {}


@pytest.mark.parametrize(
    "value",
    [
        "sha-256",
        "sha-256=1",
        'sha-256="abc"',
        "sha-256=(:AAAA:)",
        f"sha-256={HELLO_SHA256_B64}",
        "sha-256=:AAAA:",
        "sha-256=:not base64!:",
        "sha-256=:abc",
        f"sha-256=:{HELLO_SHA256_B64}:,",
        f"sha-256=:{HELLO_SHA256_B64}: sha-512=:AAAA:",
        "=:AAAA:",
        "1sha=:AAAA:",
    ],
)
def test_digest_fields_malformed(value: str) -> None:
    with pytest.raises(DigestHeaderError, match="Repr-Digest"):
        parse_digest_fields(value, "Repr-Digest")


# --- Digest (RFC 3230) and Content-MD5 ------------------------------------------------------


def test_legacy_digest() -> None:
    value = f"SHA-256={b64(D.sha256)}, MD5={b64(D.md5)}, SHA={b64(D.sha1)}"
    assert parse_legacy_digest(value) == {"sha256": D.sha256, "md5": D.md5, "sha1": D.sha1}
    assert parse_legacy_digest(f"sha-256={D.sha256.upper()}") == {"sha256": D.sha256}
    assert parse_legacy_digest("UNIXsum=30637, adler32=0A1B2C3D") == {
        "unixsum": "30637",
        "adler32": "0a1b2c3d",
    }
    assert parse_legacy_digest(" , ") == {}


@pytest.mark.parametrize(
    "value",
    [
        "SHA-256",
        "SHA-256=",
        "=abc",
        "MD5=AAAA",
        f"MD5={b64(D.sha1)}",
        "MD5=!!!!",
        "MD5=A===",
        "ADLER32=xyz",
        f"MD5={b64(D.md5)}, MD5={b64('00' * 16)}",
    ],
)
def test_legacy_digest_malformed(value: str) -> None:
    with pytest.raises(DigestHeaderError, match="Digest"):
        parse_legacy_digest(value)


def test_content_md5() -> None:
    assert parse_content_md5(b64(D.md5)) == {"md5": D.md5}
    assert parse_content_md5(f" {D.md5.upper()} ") == {"md5": D.md5}
    # RFC 1864 example-style: base64 of a 16-byte digest
    assert parse_content_md5("Q2hlY2sgSW50ZWdyaXR5IQ==") == {
        "md5": b"Check Integrity!".hex(),
    }
    assert parse_content_md5("Q2hlY2sgSW50ZWdyaXR5IQ") == {"md5": b"Check Integrity!".hex()}
    for bad in ("", "abc", b64(D.sha1), "Q2hlY2sgSW50ZWdyaXR5I"):
        with pytest.raises(DigestHeaderError, match="Content-MD5"):
            parse_content_md5(bad)


# --- combining request fields -------------------------------------------------------------


def test_expected_digests_combines_all_fields() -> None:
    headers = {
        "OC-Checksum": f"SHA1:{D.sha1} ADLER32:0a1b2c3d",
        "content-digest": f"sha-256=:{HELLO_SHA256_B64}:, sha-512=:{HELLO_SHA512_B64}:",
        "Repr-Digest": f"sha-256=:{HELLO_SHA256_B64}:",
        "DIGEST": f"MD5={b64(D.md5)}",
        "Content-MD5": b64(D.md5),
    }
    assert expected_digests_from_headers(headers) == {
        "sha1": D.sha1,
        "sha256": D.sha256,
        "md5": D.md5,
    }


def test_expected_digests_without_fields() -> None:
    assert expected_digests_from_headers({}) == {}
    assert expected_digests_from_headers({"content-type": "text/plain"}) == {}


def test_expected_digests_disagreement_names_both_fields() -> None:
    headers = {"oc-checksum": f"MD5:{D.md5}", "content-md5": b64("11" * 16)}
    with pytest.raises(DigestHeaderError, match=r"Content-MD5.*OC-Checksum"):
        expected_digests_from_headers(headers)


def test_expected_digests_malformed_field_is_named() -> None:
    with pytest.raises(DigestHeaderError, match="Repr-Digest"):
        expected_digests_from_headers({"repr-digest": "sha-256=:AAAA:"})
    with pytest.raises(DigestHeaderError, match="Content-Digest"):
        expected_digests_from_headers({"content-digest": "garbage!"})


# --- formatting ------------------------------------------------------------------------------


def test_repr_digest_default_is_sha256() -> None:
    assert repr_digest_header(D, None) == f"sha-256=:{HELLO_SHA256_B64}:"
    assert repr_digest_header(D, "  ") == f"sha-256=:{HELLO_SHA256_B64}:"


@pytest.mark.parametrize(
    ("want", "expected"),
    [
        ("sha-256=1, sha=3, md5=0", "sha"),
        ("sha-256=1", "sha-256"),
        ("md5=2, sha-256=1", "md5"),
        ("sha-512=10, sha-256=1", "sha-256"),
        ("sha-256=5, sha=5, md5=5", "sha-256"),
        ("sha=5, md5=5", "sha"),
        ("SHA-256=3", "sha-256"),
        ("sha-256=3;x=1", "sha-256"),
        ("sha-512=3", None),
        ("md5=0", None),
        ("sha-256=0, sha=0, md5=0", None),
        ("", "sha-256"),
        ("sha-256=11", "sha-256"),
        ("md5=-1", "sha-256"),
        ("md5=1.5", "sha-256"),
        ("md5", "sha-256"),
        ("md5=?1", "sha-256"),
        ("garbage;;", "sha-256"),
        ("md5=1,", "sha-256"),
    ],
)
def test_repr_digest_honours_want_repr_digest(want: str, expected: str | None) -> None:
    value = repr_digest_header(D, want)
    if expected is None:
        assert value is None
        return
    hex_digest = {"sha-256": D.sha256, "sha": D.sha1, "md5": D.md5}[expected]
    assert value == f"{expected}=:{b64(hex_digest)}:"


def test_oc_checksum_header() -> None:
    assert oc_checksum_header(D) == f"SHA1:{D.sha1}"


# --- properties -----------------------------------------------------------------------------

field_text = st.one_of(
    st.text(),
    st.text(alphabet='sha-256md5SHA1:=,; \t()?"*AQZz+/0123456789ab\\'),
)


@PROPERTY
@given(field_text)
def test_parsers_raise_only_digest_header_error(value: str) -> None:
    for parser in (parse_oc_checksum, parse_digest_fields, parse_legacy_digest, parse_content_md5):
        try:
            result = parser(value)
        except DigestHeaderError:
            continue
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in result.items())


@PROPERTY
@given(
    st.dictionaries(
        st.sampled_from(["OC-Checksum", "Content-Digest", "Repr-Digest", "Digest", "Content-MD5"]),
        field_text,
    )
)
def test_expected_digests_raises_only_digest_header_error(headers: dict[str, str]) -> None:
    try:
        result = expected_digests_from_headers(headers)
    except DigestHeaderError:
        return
    assert set(result) <= {"md5", "sha1", "sha256"}


@PROPERTY
@given(field_text)
def test_repr_digest_never_raises(want: str) -> None:
    value = repr_digest_header(D, want)
    assert value is None or value.endswith(":")


@PROPERTY
@given(st.binary(max_size=256))
def test_formatted_digests_parse_back(content: bytes) -> None:
    digests = hash_chunks([content])
    expected = {"md5": digests.md5, "sha1": digests.sha1, "sha256": digests.sha256}
    headers = {
        "oc-checksum": digests.as_oc_checksums(),
        "repr-digest": str(repr_digest_header(digests, None)),
        "content-digest": ", ".join(
            str(repr_digest_header(digests, f"{name}=1")) for name in ("sha-256", "sha", "md5")
        ),
        "digest": f"SHA-256={b64(digests.sha256)}, MD5={b64(digests.md5)}",
        "content-md5": b64(digests.md5),
    }
    assert expected_digests_from_headers(headers) == expected
    assert parse_oc_checksum(oc_checksum_header(digests)) == {"sha1": digests.sha1}


def test_digests_type_is_the_providers_one() -> None:
    assert isinstance(D, Digests)
