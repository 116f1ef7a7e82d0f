"""Settings of the gateways (YAML ``gateways:``); each gateway owns its own block."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FtpGatewaySettings(_Strict):
    """The FTP/FTPS gateway (off unless ``enabled`` or ``--ftp-port`` is given).

    ``port`` 0 picks a free port. Logins without TLS (no ``AUTH TLS``) are refused unless
    ``allow_plain_login`` is true, the same stance as Basic over plain HTTP.
    ``passive_ports`` is an inclusive range ``[first, last]`` (None: any free port).
    """

    enabled: bool = False
    host: str | None = None
    port: int = Field(2121, ge=0, le=65535)
    allow_plain_login: bool = False
    passive_ports: tuple[int, int] | None = None


class SmtpGatewaySettings(_Strict):
    """The e-mail gateway (off unless ``enabled`` or ``--smtp-port`` is given).

    ``port`` 0 picks a free port. AUTH is accepted only after STARTTLS unless
    ``allow_plain_login`` is true.
    """

    enabled: bool = False
    host: str | None = None
    port: int = Field(2525, ge=0, le=65535)
    allow_plain_login: bool = False


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
