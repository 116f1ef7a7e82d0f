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
    """

    enabled: bool = False
    host: str | None = None
    port: int = Field(2525, ge=0, le=65535)
    allow_plain_login: bool = False


class GatewaySettings(_Strict):
    """All gateways."""

    ftp: FtpGatewaySettings = FtpGatewaySettings()
    smtp: SmtpGatewaySettings = SmtpGatewaySettings()
