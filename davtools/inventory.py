#!/usr/bin/env python3
"""``davsync-inventory``: list a WebDAV share recursively with sizes, times and hashes,
using plain PROPFIND.

Installed with davsync (client install included). This file is also an example for users who
script their own inventories: it is stand-alone, needs Python 3.11 and httpx only
(``pip install httpx``), walks the share one ``PROPFIND Depth: 1`` per folder, and reads the
``oc:checksums`` property (``SHA1:<hex> MD5:<hex> SHA256:<hex>``) that davsync, ownCloud and
Nextcloud serve. Other servers work too; their hash columns stay empty.

Examples::

    DAV_PASSWORD=secret davsync-inventory \\
        https://dav.example.org/remote.php/dav/files/alice/ --user alice --format csv
    davsync-inventory http://10.0.0.5:8080/dav/files/alice/ --user alice --digest \\
        --netrc --output inventory.json

Output (JSON: a list; NDJSON: one object per line; CSV: a header row), one entry per file and
folder below the URL, sorted by path::

    {"path": "sub/a.txt", "type": "file", "size": 3, "mtime": "2025-10-09T17:54:43Z",
     "etag": "\\"...\\"", "sha1": "...", "md5": "...", "sha256": "..."}

JSON keeps the ETag exactly as the server sent it (with its double quotes); CSV writes it
without them (``abc`` for ``"abc"``, ``W/abc`` for ``W/"abc"``), so the cell is not wrapped in
tripled quotes.

Exit status: 0 on success, 1 when the server or the network fails, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from email.utils import parsedate_to_datetime
from typing import IO, Any
from urllib.parse import quote, unquote, urljoin, urlsplit

import httpx

try:  # defusedxml refuses entity expansion tricks; fall back to the standard library
    from defusedxml import ElementTree as SafeET

    def _parse_xml(data: bytes) -> Any:
        return SafeET.fromstring(data)

except ImportError:  # pragma: no cover - depends on the environment
    import xml.etree.ElementTree as StdET

    def _parse_xml(data: bytes) -> Any:
        return StdET.fromstring(data)


DAV = "{DAV:}"
OC = "{http://owncloud.org/ns}"
FIELDS = ("path", "type", "size", "mtime", "etag", "sha1", "md5", "sha256")

PROPFIND_BODY = b"""<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns">
 <d:prop>
  <d:resourcetype/>
  <d:getcontentlength/>
  <d:getlastmodified/>
  <d:getetag/>
  <oc:checksums/>
 </d:prop>
</d:propfind>
"""


class InventoryError(Exception):
    """The server answered something the inventory cannot use."""


@dataclass(frozen=True)
class Entry:
    """One file or folder below the listed URL."""

    path: str
    type: str
    size: int | None
    mtime: str
    etag: str
    sha1: str
    md5: str
    sha256: str


def parse_checksums(text: str) -> dict[str, str]:
    """``SHA1:ab MD5:cd`` (space- or comma-separated, any case) -> ``{"sha1": "ab", ...}``."""
    out: dict[str, str] = {}
    for token in text.replace(",", " ").split():
        algorithm, sep, value = token.partition(":")
        if sep and value:
            out[algorithm.strip().lower().replace("-", "")] = value.strip().lower()
    return out


def _iso(http_date: str) -> str:
    if not http_date:
        return ""
    try:
        return parsedate_to_datetime(http_date).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (TypeError, ValueError):
        return http_date


def _ok_props(response: Any) -> dict[str, Any]:
    """The properties of a ``<response>`` that came with a 2xx status."""
    props: dict[str, Any] = {}
    for propstat in response.iter(f"{DAV}propstat"):
        status = propstat.findtext(f"{DAV}status") or ""
        parts = status.split()
        if len(parts) < 2 or not parts[1].startswith("2"):
            continue
        prop = propstat.find(f"{DAV}prop")
        if prop is not None:
            for el in prop:
                props[el.tag] = el
    return props


def parse_multistatus(body: bytes, request_url: str, base_path: str) -> Iterator[Entry]:
    """The entries of one Depth 1 multistatus (the listed folder itself excluded)."""
    try:
        root = _parse_xml(body)
    except Exception as exc:  # any XML error: the message says what the server sent
        raise InventoryError(f"not a WebDAV multistatus: {exc}") from exc
    if root.tag != f"{DAV}multistatus":
        raise InventoryError(f"not a WebDAV multistatus: <{root.tag}>")
    for response in root.iter(f"{DAV}response"):
        href = (response.findtext(f"{DAV}href") or "").strip()
        path = unquote(urlsplit(urljoin(request_url, href)).path)
        if not path.startswith(base_path):
            raise InventoryError(f"entry {path!r} is outside {base_path!r}")
        rel = path[len(base_path) :].strip("/")
        if not rel:
            continue  # the listed URL itself
        props = _ok_props(response)
        rtype = props.get(f"{DAV}resourcetype")
        is_dir = rtype is not None and rtype.find(f"{DAV}collection") is not None
        checks: dict[str, str] = {}
        checksums = props.get(f"{OC}checksums")
        if checksums is not None:
            for el in checksums.iter(f"{OC}checksum"):
                checks.update(parse_checksums(el.text or ""))
        length = props.get(f"{DAV}getcontentlength")
        size = int(length.text) if length is not None and (length.text or "").isdigit() else None
        modified = props.get(f"{DAV}getlastmodified")
        etag = props.get(f"{DAV}getetag")
        yield Entry(
            path=rel,
            type="dir" if is_dir else "file",
            size=None if is_dir else size,
            mtime=_iso(modified.text or "" if modified is not None else ""),
            etag=(etag.text or "") if etag is not None else "",
            sha1=checks.get("sha1", ""),
            md5=checks.get("md5", ""),
            sha256=checks.get("sha256", ""),
        )


def walk(
    client: httpx.Client, url: str, *, max_depth: int = 100, max_entries: int = 1_000_000
) -> list[Entry]:
    """Every entry below ``url`` (a folder), one PROPFIND Depth 1 per folder, breadth first.

    Raises InventoryError for a non-207 answer or when a limit is exceeded.
    """
    base_url = url if url.endswith("/") else url + "/"
    base_path = unquote(urlsplit(base_url).path)
    entries: list[Entry] = []
    queue: deque[tuple[str, int]] = deque([("", 0)])
    while queue:
        rel, depth = queue.popleft()
        folder_url = urljoin(base_url, quote(rel, safe="/") + "/" if rel else "")
        response = client.request(
            "PROPFIND",
            folder_url,
            headers={"Depth": "1", "Content-Type": "application/xml; charset=utf-8"},
            content=PROPFIND_BODY,
        )
        if response.status_code == 401:
            raise InventoryError(f"PROPFIND {folder_url}: HTTP 401 - {explain_401(response)}")
        if response.status_code != 207:
            raise InventoryError(f"PROPFIND {folder_url}: HTTP {response.status_code}")
        for entry in parse_multistatus(response.content, folder_url, base_path):
            if entry.path == rel:
                continue
            entries.append(entry)
            if len(entries) > max_entries:
                raise InventoryError(f"more than {max_entries} entries (see --max-entries)")
            if entry.type == "dir":
                if depth + 1 > max_depth:
                    raise InventoryError(f"{entry.path}: deeper than --max-depth {max_depth}")
                queue.append((entry.path, depth + 1))
    return sorted(entries, key=lambda e: e.path)


def explain_401(response: httpx.Response) -> str:
    """Why the server refused the login, as far as the request and its answer tell."""
    sent = response.request.headers.get("Authorization", "")
    offered = response.headers.get("WWW-Authenticate", "")
    if not sent:
        return "the server wants a login: pass --user and set the password (or use --netrc)"
    if sent.lower().startswith("basic") and response.request.url.scheme == "http":
        hint = ""
        if "digest" in offered.lower():
            hint = "; this server offers Digest"
        return (
            "login refused. Over plain http:// davsync refuses Basic auth (the password would "
            f"cross the network readable){hint}: use an https:// URL, or add --digest. "
            "Otherwise the user name or password is wrong"
        )
    return "wrong user name or password (or the account is locked after failed logins)"


def _csv_etag(etag: str) -> str:
    """``"abc"`` -> ``abc``, ``W/"abc"`` -> ``W/abc``: an ETag without its quotes."""
    weak = etag.startswith("W/")
    bare = etag[2:] if weak else etag
    if len(bare) >= 2 and bare[0] == bare[-1] == '"':
        bare = bare[1:-1]
    return ("W/" if weak else "") + bare


def write(entries: Sequence[Entry], fmt: str, out: IO[str]) -> None:
    """Write ``entries`` as json, ndjson or csv."""
    rows = [asdict(e) for e in entries]
    if fmt == "json":
        json.dump(rows, out, indent=1, ensure_ascii=False)
        out.write("\n")
    elif fmt == "ndjson":
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    else:
        writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            row["etag"] = _csv_etag(row["etag"])
            writer.writerow({k: "" if v is None else v for k, v in row.items()})


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    p = argparse.ArgumentParser(
        prog="davsync-inventory",
        description="List a WebDAV folder recursively with sizes, times and hashes.",
    )
    p.add_argument("url", help="URL of the folder to list (e.g. .../remote.php/dav/files/USER/)")
    p.add_argument("--user", help="user name (else none, or from --netrc)")
    p.add_argument(
        "--password-env",
        default="DAV_PASSWORD",
        metavar="VAR",
        help="environment variable holding the password (default DAV_PASSWORD)",
    )
    p.add_argument("--netrc", action="store_true", help="read user and password from ~/.netrc")
    p.add_argument("--digest", action="store_true", help="use Digest instead of Basic auth")
    p.add_argument("--ca-file", help="PEM file of the CA that signed the server certificate")
    p.add_argument("--format", choices=("json", "ndjson", "csv"), default="json")
    p.add_argument("--output", "-o", help="write here instead of standard output")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    p.add_argument("--max-depth", type=int, default=100)
    p.add_argument("--max-entries", type=int, default=1_000_000)
    return p


def _auth(args: argparse.Namespace) -> httpx.Auth | None:
    if args.netrc:
        return httpx.NetRCAuth()
    if not args.user:
        return None
    password = os.environ.get(args.password_env)
    if password is None:
        raise SystemExit(f"error: set the password in ${args.password_env} (or use --netrc)")
    if args.digest:
        return httpx.DigestAuth(args.user, password)
    return httpx.BasicAuth(args.user, password)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = build_parser().parse_args(argv)
    try:
        auth = _auth(args)
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        return 2
    verify: str | bool = args.ca_file if args.ca_file else True
    headers = {"User-Agent": "davsync-inventory/1"}
    try:
        with httpx.Client(auth=auth, verify=verify, timeout=args.timeout, headers=headers) as c:
            entries = walk(c, args.url, max_depth=args.max_depth, max_entries=args.max_entries)
    except (httpx.HTTPError, InventoryError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.output:
        with open(args.output, "w", encoding="utf-8", newline="") as out:
            write(entries, args.format, out)
    else:
        try:
            write(entries, args.format, sys.stdout)
            sys.stdout.flush()
        except BrokenPipeError:  # e.g. piped into head
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
    files = [e for e in entries if e.type == "file"]
    total = sum(e.size or 0 for e in files)
    print(
        f"{len(files)} files, {len(entries) - len(files)} folders, {total} bytes",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
