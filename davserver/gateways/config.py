"""Settings of the gateways (YAML ``gateways:``); each gateway owns its own block."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FtpGatewaySettings(_Strict):
    """The FTP/FTPS gateway (off unless ``enabled`` or ``--ftp-port`` is given).

    ``port`` 0 picks a free port. Logins without TLS (no ``AUTH TLS``) are refused unless
    ``allow_plain_login`` is true, the same stance as Basic over plain HTTP.
    ``passive_ports`` is an inclusive range ``[first, last]`` (None: any free port).
    ``masquerade_address`` is the address announced in PASV replies (behind NAT).
    ``login_failure_delay_s`` delays each ``530`` (the server's login throttle still
    decides when an address is locked out). ``idle_timeout_s`` ends silent sessions.
    """

    enabled: bool = False
    host: str | None = None
    port: int = Field(2121, ge=0, le=65535)
    allow_plain_login: bool = False
    passive_ports: tuple[int, int] | None = None
    masquerade_address: str | None = None
    login_failure_delay_s: float = Field(1.0, ge=0, le=30)
    idle_timeout_s: int = Field(300, ge=5)
    max_connections: int = Field(64, ge=1)

    @field_validator("passive_ports")
    @classmethod
    def _ordered_range(cls, v: tuple[int, int] | None) -> tuple[int, int] | None:
        if v is not None and not (1 <= v[0] <= v[1] <= 65535):
            raise ValueError("passive_ports must be [first, last] with 1 <= first <= last")
        return v


class SmtpGatewaySettings(_Strict):
    """The e-mail gateway (off unless ``enabled`` or ``--smtp-port`` is given).

    ``port`` 0 picks a free port. AUTH is accepted only after STARTTLS unless
    ``allow_plain_login`` is true.

    Attachments land in ``folder`` (``{date}`` becomes the UTC day, ``YYYY-MM-DD``) below the
    authenticated user's home; ``user_folders`` overrides it per user. A message larger than
    ``max_message_bytes`` is refused with 552 (it is held in memory while it arrives: big
    files travel as numbered parts over several messages, see docs/ARCHITECTURE.md).
    ``max_parts`` and ``max_depth`` bound the MIME tree of one message, ``max_parts_per_file``
    the number of messages one file may be split into; staged parts older than
    ``staging_expiry_s`` are dropped. ``max_partial_bytes`` bounds a reassembled RFC 2046
    ``message/partial`` message (parsed in memory). Receipts are written as JSON into
    ``receipts_folder`` of the user's home (None: not kept) and, with ``relay``
    (``host:port``), mailed back to the sender from ``receipt_from``. At most
    ``max_connections`` sessions are open at once (more get ``421`` and are closed).
    """

    enabled: bool = False
    host: str | None = None
    port: int = Field(2525, ge=0, le=65535)
    allow_plain_login: bool = False
    folder: str = "mail-in/{date}"
    user_folders: dict[str, str] = {}
    max_message_bytes: int = Field(32 * 1024 * 1024, ge=1024)
    max_parts: int = Field(100, ge=1)
    max_depth: int = Field(5, ge=1)
    max_parts_per_file: int = Field(10000, ge=1)
    max_partial_bytes: int = Field(64 * 1024 * 1024, ge=1024)
    staging_expiry_s: float = Field(7 * 24 * 3600.0, gt=0)
    receipts_folder: str | None = "mail-in/receipts"
    relay: str | None = None
    receipt_from: str = "davsync@localhost"
    max_connections: int = Field(64, ge=1)

    def folder_for(self, user: str) -> str:
        """The folder template for ``user``'s attachments (``{date}`` not yet filled in)."""
        return self.user_folders.get(user, self.folder)


class FormGatewaySettings(_Strict):
    """HTML form upload (``multipart/form-data`` POST to a collection; on unless disabled).

    ``max_parts`` bounds the parts of one POST (fields and files together), ``max_files``
    the file parts among them, ``max_field_bytes`` the size of one text field.
    """

    enabled: bool = True
    max_parts: int = Field(1000, ge=1, le=100_000)
    max_files: int = Field(100, ge=1, le=10_000)
    max_field_bytes: int = Field(64 * 1024, ge=64, le=16 * 1024 * 1024)


class GatewaySettings(_Strict):
    """All gateways."""

    ftp: FtpGatewaySettings = FtpGatewaySettings()
    smtp: SmtpGatewaySettings = SmtpGatewaySettings()
    form: FormGatewaySettings = FormGatewaySettings()
