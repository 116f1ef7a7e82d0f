"""The HTML of form upload: the reusable upload form, a standalone upload page and the result
page. Every value put into HTML is escaped here; nothing else builds these pages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

UPLOAD_QUERY = "upload"
"""``GET <collection>?upload`` shows the standalone upload page."""

_STYLE = (
    "body{font-family:sans-serif;margin:2em;max-width:50em}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em;"
    "text-align:left}code{word-break:break-all}"
)


def upload_form_html(collection_url: str) -> str:
    """A ``<form>`` that uploads one or more files into ``collection_url`` (a URL path,
    escaped here). The optional SHA-256 field comes before the file input so that the
    browser sends it first; it takes one hex digest per file, in the order of the files."""
    action = escape(collection_url, quote=True)
    return (
        f'<form class="davsync-upload" method="post" enctype="multipart/form-data" '
        f'action="{action}">\n'
        '  <label>Files <input type="file" name="file" multiple required></label>\n'
        "  <label>SHA-256 (optional, one per file, in order)\n"
        '    <textarea name="file.sha256" rows="2" cols="66" spellcheck="false"></textarea>'
        "</label>\n"
        '  <button type="submit">Upload</button>\n'
        "</form>\n"
    )


def _page(title: str, body: str) -> bytes:
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>\n"
        f"<body>\n<h1>{escape(title)}</h1>\n{body}</body></html>\n"
    ).encode()


def upload_page(collection_url: str) -> bytes:
    """The standalone upload page of ``collection_url``."""
    back = escape(collection_url, quote=True)
    return _page(
        f"Upload to {collection_url}",
        upload_form_html(collection_url) + f'<p><a href="{back}">Back to the folder</a></p>\n',
    )


def result_page(
    collection_url: str, status: int, message: str, files: Sequence[Mapping[str, Any]]
) -> bytes:
    """The page answering a browser's upload: what was stored (with hashes) or why not."""
    rows = "".join(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>\n".format(
            escape(str(f.get("name", ""))),
            escape(str(f.get("status", ""))),
            escape(str(f.get("size", ""))),
            escape(str(f.get("sha256") or f.get("error") or "")),
        )
        for f in files
    )
    table = (
        "<table><tr><th>File</th><th>Status</th><th>Bytes</th><th>SHA-256 / error</th></tr>\n"
        f"{rows}</table>\n"
        if files
        else ""
    )
    back = escape(collection_url, quote=True)
    title = "Upload complete" if 200 <= status < 300 else "Upload refused"
    return _page(
        title,
        f'<p class="message">{escape(message)}</p>\n{table}'
        f'<p><a href="{back}">Back to the folder</a> · '
        f'<a href="{back}?{UPLOAD_QUERY}">Upload more</a></p>\n',
    )
