"""`python -m connection.codec_server`: the Temporal codec server, so the Web UI and the CLI can read
(and write) payloads that IRP_PAYLOAD_KEY encrypts.

The Temporal codec server protocol: `POST /encode` and `POST /decode` (also under
`/{namespace}/…`, for the CLI's `--codec-endpoint 'http://host:8081/{namespace}'` templating),
each taking and answering `{"payloads": [<Payload as proto3 JSON>]}` (metadata values and data
in base64). The UI sends its namespace in `X-Namespace`; one key serves every namespace here.

  IRP_CODEC_HOST / IRP_CODEC_PORT   where it listens (127.0.0.1 / 8081)
  IRP_CODEC_CORS_ORIGIN             the Web UI's origin(s), comma-separated (http://localhost:8233)
  IRP_CODEC_TOKEN                   when set, every encode/decode needs `Authorization: Bearer <it>`
  IRP_CODEC_TLS_CERT / _KEY         serve HTTPS with this certificate and key (PEM paths)
  IRP_PAYLOAD_KEY / IRP_PAYLOAD_OLD_KEYS   the keys (connection/codec.py); required

Decrypted payloads are as secret as the key: it refuses to listen beyond loopback without a
token, and answers `Cache-Control: no-store`. Point the UI at it with
`temporal server start-dev --ui-codec-endpoint http://localhost:8081`, or in the UI's
"Data Encoder" settings (the codec endpoint); the CLI with
`temporal workflow show -w ID --codec-endpoint http://localhost:8081 \
--codec-auth "Bearer $IRP_CODEC_TOKEN"`."""

from __future__ import annotations

import hmac
import ipaddress
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from google.protobuf import json_format
from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict
from temporalio.api.common.v1 import Payloads
from temporalio.converter import PayloadCodec

from connection.codec import PayloadDecryptError, PayloadKeyError, PayloadKeySettings
from connection.http import BodyTooLarge, read_capped

log = logging.getLogger("connection.codec_server")
MAX_BODY = 16 * 1024 * 1024  # a history's worth of payloads; Temporal caps one payload at 2 MB
DEFAULT_ORIGIN = "http://localhost:8233"
ALLOWED_HEADERS = ["X-Namespace", "Authorization", "Content-Type"]


class CodecServerSettings(PayloadKeySettings):
    """The codec server's: where it listens, for which Web UI, behind which token and certificate."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True, env_ignore_empty=True)

    irp_codec_host: str = Field(
        "127.0.0.1",
        description="Where the codec server listens; beyond loopback only with IRP_CODEC_TOKEN.",
    )
    irp_codec_port: int = Field(8081, description="The codec server's port.")
    irp_codec_cors_origin: str = Field(
        DEFAULT_ORIGIN,
        description="The Web UI origins (comma-separated, never *) whose browsers may call the codec server.",
    )
    irp_codec_token: SecretStr | None = Field(
        None,
        description="The bearer token every encode and decode must carry; needed to listen beyond loopback.",
    )
    irp_codec_tls_cert: Path | None = Field(
        None,
        description="Serve HTTPS with this certificate (a PEM file), with IRP_CODEC_TLS_KEY.",
    )
    irp_codec_tls_key: Path | None = Field(
        None,
        description="The private key of IRP_CODEC_TLS_CERT (a PEM file).",
    )

    @property
    def cors_origins(self) -> list[str]:
        return [o.strip().rstrip("/") for o in self.irp_codec_cors_origin.split(",") if o.strip()]


class _Refusal(Exception):
    def __init__(self, status: int, reason: str):
        self.status, self.reason = status, reason


def create_app(
    codec: PayloadCodec,
    *,
    token: SecretStr | str | None = None,
    cors_origins: Sequence[str] = (DEFAULT_ORIGIN,),
) -> FastAPI:
    """The codec server around `codec`. With a token, /encode and /decode need it as a bearer
    token; the CORS preflight never does (browsers send no credentials on it)."""
    if any(o.strip() == "*" for o in cors_origins):
        raise ValueError(
            "IRP_CODEC_CORS_ORIGIN may not be '*': name the Web UI's origin, e.g. http://localhost:8233"
        )
    expected = (token.get_secret_value() if isinstance(token, SecretStr) else token or "").strip().encode()
    app = FastAPI(title="preskool-irp codec server", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(cors_origins),
        allow_methods=["POST"],
        allow_headers=ALLOWED_HEADERS,
        allow_credentials=True,
        allow_private_network=True,
        max_age=600,
    )

    @app.exception_handler(_Refusal)
    async def refused(request: Request, e: _Refusal) -> JSONResponse:
        log.warning("refused %s %s: %d %s", request.method, request.url.path, e.status, e.reason)
        headers = {"Cache-Control": "no-store"} | ({"WWW-Authenticate": "Bearer"} if e.status == 401 else {})
        return JSONResponse({"error": e.reason}, status_code=e.status, headers=headers)

    def authorize(request: Request) -> None:
        if not expected:
            return
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            raise _Refusal(401, "missing bearer token (Authorization: Bearer <IRP_CODEC_TOKEN>)")
        if not hmac.compare_digest(presented.strip().encode(), expected):
            raise _Refusal(401, "wrong bearer token")

    async def run(request: Request, decode: bool) -> JSONResponse:
        authorize(request)
        body = await _read_body(request)
        try:
            payloads = json_format.Parse(body or b"{}", Payloads(), ignore_unknown_fields=True)
        except (json_format.ParseError, UnicodeDecodeError) as e:
            raise _Refusal(400, f'not a {{"payloads": [...]}} body: {e}') from None
        try:
            result = await (codec.decode if decode else codec.encode)(list(payloads.payloads))
        except PayloadDecryptError as e:
            raise _Refusal(422, str(e)) from None
        answer = json_format.MessageToDict(Payloads(payloads=result))
        return JSONResponse({"payloads": answer.get("payloads", [])}, headers={"Cache-Control": "no-store"})

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.post("/encode")
    @app.post("/{namespace}/encode")
    async def encode(request: Request) -> JSONResponse:
        return await run(request, decode=False)

    @app.post("/decode")
    @app.post("/{namespace}/decode")
    async def decode(request: Request) -> JSONResponse:
        return await run(request, decode=True)

    return app


async def _read_body(request: Request) -> bytes:
    try:
        return await read_capped(request, MAX_BODY)
    except BodyTooLarge as e:
        raise _Refusal(413, str(e)) from None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main() -> None:
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = CodecServerSettings()
    try:
        codec = settings.payload_codec()
    except PayloadKeyError as e:
        sys.exit(str(e))
    if codec is None:
        sys.exit("IRP_PAYLOAD_KEY is not set: the codec server has nothing to decrypt with")
    token = settings.irp_codec_token.get_secret_value().strip() if settings.irp_codec_token else ""
    if not token and not is_loopback(settings.irp_codec_host):
        sys.exit(
            f"IRP_CODEC_HOST={settings.irp_codec_host} is reachable beyond this machine: set IRP_CODEC_TOKEN "
            "so only its holders see decrypted payloads (or listen on 127.0.0.1)"
        )
    tls = (settings.irp_codec_tls_cert, settings.irp_codec_tls_key)
    if bool(tls[0]) != bool(tls[1]):
        sys.exit("IRP_CODEC_TLS_CERT and IRP_CODEC_TLS_KEY go together: set both or neither")
    if not tls[0] and not is_loopback(settings.irp_codec_host):
        log.warning(
            "serving decrypted payloads and the bearer token over plain HTTP beyond loopback: set "
            "IRP_CODEC_TLS_CERT and IRP_CODEC_TLS_KEY, or put it behind a TLS proxy"
        )
    try:
        app = create_app(codec, token=token or None, cors_origins=settings.cors_origins)
    except ValueError as e:
        sys.exit(str(e))
    scheme = "https" if tls[0] else "http"
    log.info(
        "codec server on %s://%s:%d for %s; key %s (decrypts %s); bearer token %s",
        scheme,
        settings.irp_codec_host,
        settings.irp_codec_port,
        ", ".join(settings.cors_origins),
        codec.key_id,
        ", ".join(codec.key_ids),
        "required" if token else "not required (loopback only)",
    )
    uvicorn.run(
        app,
        host=settings.irp_codec_host,
        port=settings.irp_codec_port,
        log_level="info",
        ssl_certfile=str(tls[0]) if tls[0] else None,
        ssl_keyfile=str(tls[1]) if tls[1] else None,
    )


if __name__ == "__main__":
    main()
