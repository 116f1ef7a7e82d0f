"""The e-mail gateway: attachments sent by authenticated users land in their homes.

Modules, one job each:

- ``auth``: AUTH PLAIN/LOGIN checked by an in-process ``PROPFIND`` (same users, same throttle).
- ``parse``: a received message -> attachments, declared hashes, pieces of split files;
  malformed or oversized MIME trees are refused before anything is stored.
- ``reassemble``: pieces of files split over several messages, staged on disk under the
  state folder until all have arrived (across messages and restarts), then streamed into one
  file.
- ``deliver``: in-process ``MKCOL``/``PUT``/``PROPFIND``: the server verifies declared hashes
  and commits atomically, exactly as for a PUT from the network.
- ``receipts``: what was stored (with the server's hashes) or why not, kept as JSON in the
  user's home and/or mailed back through a relay.
- ``process``: one message from parse to receipt; the SMTP reply.
- ``server``: the aiosmtpd listener (STARTTLS, AUTH, size limit) in its own thread.

Split files (written by syncclient's ``mail`` transport; any client may use it). Each
message carries one piece of a file as an attachment whose MIME part has::

    X-Davsync-Part: <file-id> <n>/<total>     file-id: 1-100 of [A-Za-z0-9._-]; 1 <= n <= total
    X-Davsync-SHA256: <hex>                   SHA-256 of the whole file: required on the last
                                              piece (n = total), optional (and then equal) on
                                              the others, so a sender can stream the file
    X-Davsync-Path: <relative/path>           optional, percent-encoded UTF-8: where below
                                              the mail folder (else the attachment's name)

The pieces are the file's bytes in order; the whole file is stored once all ``total`` pieces
have arrived, in one PUT declaring the whole-file SHA-256 (the server verifies it). A receipt
for the file is kept as ``<receipts_folder>/file-<file-id>.json``.
"""
