"""The commented config file ``syncclient init`` writes (``str.format`` fields: url, user,
password_file, source; values arrive JSON-quoted, which is valid TOML)."""

from __future__ import annotations

CONFIG_TEMPLATE = """\
# syncclient configuration (TOML). Precedence: command-line flags > SYNCCLIENT_* environment
# variables > this file > built-in defaults. Relative paths are relative to this file.

# Where journals, manifests and run summaries live (default: the per-user state folder).
# state_dir = "state"

# Ignore rules in gitignore syntax. Built-in defaults (~$*, *.tmp, *.part, Thumbs.db,
# desktop.ini, .DS_Store, ._*) apply unless default_ignores = false; a .syncignore file in
# the source folder is read too. `syncclient check-ignore PATH` tells which rule matched.
ignore = []
default_ignores = true
# Names Windows cannot hold (CON, aux.txt, trailing dot/space, <>:"\\|?*, > 260 characters,
# a/B.txt next to a/b.txt): "report" (warn, send anyway), "skip" (not sent, exit 2), "off".
windows_names = "report"

[server]
# Base collection on the server; repositories below may give a URL relative to it.
url = {url}
user = {user}
# The password is never written here. Use a file readable only by the service account
# (chmod 600), or the environment: SYNCCLIENT_PASSWORD, or the variable named here:
password_file = {password_file}
# password_env = "SITE_DAV_PASSWORD"
# PEM bundle to trust instead of the operating system's trust store:
# ca_bundle = "ca.pem"
# auth = "auto"            # auto: Basic over HTTPS, Digest over plain HTTP
# transport = "auto"       # auto: WebDAV, or HTML-form POSTs when a proxy blocks WebDAV verbs

# One block per local folder to send.
[[repository]]
root = {source}
# url = "instrument-a/"   # relative to server.url, or an absolute URL

# Rules: the first whose `match` patterns (gitignore syntax) match a file applies.
# stable_seconds: send only once size and mtime have not changed for this long,
#   unless a done-marker (<file><done_marker>) or a flag file in the folder exists.
# order: newest-first | oldest-first | smallest-first | largest-first | path |
#   latest-only:N (N newest per folder; add +later to send the rest afterwards) |
#   classes:GLOB,GLOB (earlier classes first); combine with +, e.g. "classes:*.csv+newest-first"
# post_action: keep | delete | move (to archive_dir) | delete-after (delete_after_days),
#   applied only after the server's hash matched.
# [[rule]]
# name = "video"
# match = ["*.mp4"]
# stable_seconds = 120
# done_marker = ".done"
# order = "latest-only:3"
# post_action = "move"
# archive_dir = "sent"

# Settings for files no [[rule]] matches.
[default_rule]
name = "default"
stable_seconds = 30
order = "path"
post_action = "keep"

[transfer]
parallel = 4
chunk_size = "10MiB"        # resumable chunk sessions for files of chunk_threshold or more
chunk_threshold = "16MiB"
bwlimit = 0                 # bytes/s, e.g. "512k"; 0 = unlimited
retries = 8                 # attempts per request (exponential backoff with jitter)
stall_timeout = 60          # seconds without progress before a connection is retried
download_verify = true      # servers without hashes: download to verify

[budget]
# max_bytes = "2G"
# max_duration = "2h"
cutoff = "soft"             # hard: stop at once | soft: finish files in flight |
                            # cautious: start no file that cannot finish in the budget

[schedule]
# Weekly windows (local time); outside them nothing is sent. Optional bw=RATE per window.
windows = []                # e.g. ["Mon-Fri 19:00-07:00", "Sat,Sun 00:00-24:00 bw=2M"]
interval = 300              # daemon: seconds between passes

[output]
# manifest = "manifest.jsonl"      # JSONL audit of verified files (default: state folder)
# summary_file = "last-run.json"
stats_interval = 30

[hooks]
# after_file = "echo sent %SYNCCLIENT_PATH%"   # env: SYNCCLIENT_PATH, _FILE, _SIZE, _SHA256, _URL
# after_run = ""                               # env: SYNCCLIENT_EXIT, SYNCCLIENT_SUMMARY
"""
