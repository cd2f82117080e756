"""Connecting to Temporal: an existing cluster when TEMPORAL_ADDRESS is set, else the embedded one.

Every entry point (worker.py, the CLI, python -m webhook) connects through `connect()`, so
all of them get the same connection security and the same payload encryption:

  TEMPORAL_TLS_CERT / TEMPORAL_TLS_KEY  paths of the mTLS client certificate and its key (both or neither)
  TEMPORAL_TLS_CA                       path of the server's CA (default: the system's roots)
  TEMPORAL_TLS_SERVER_NAME              the name on the server's certificate, when not the address's host
  TEMPORAL_API_KEY                      an API key (Temporal Cloud); implies TLS
  TEMPORAL_TLS                          true: TLS without a client certificate; false: never TLS
                                        (unset: TLS when any of the above is set)
  IRP_PAYLOAD_KEY / IRP_PAYLOAD_OLD_KEYS  AES-256-GCM payload encryption (connection/codec.py)

A setting that cannot work (a certificate without its key, an unreadable file, a bad payload
key) raises TemporalConfigError at start with what to fix. Secrets (the API key, the private
key, the payload keys) never appear in a message, a log line or a repr."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes, PayloadCodec
from temporalio.runtime import Runtime
from temporalio.service import TLSConfig
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from connection.codec import EncryptionCodec, PayloadKeyError, PayloadKeySettings

EMBEDDED_ADDRESS = "localhost:7233"
log = logging.getLogger("connection.temporal")


class TemporalConfigError(ValueError):
    """The Temporal connection or payload-encryption settings cannot work; the message says which
    setting and how to fix it, and never holds a secret."""


class RedactedTLSConfig(TLSConfig):
    """The SDK's TLSConfig, whose repr never shows the private key or the PEMs."""

    def __repr__(self) -> str:
        def pem(value: bytes | None) -> str:
            return "None" if value is None else f"<{len(value)} bytes>"

        return (
            f"TLSConfig(server_root_ca_cert={pem(self.server_root_ca_cert)}, domain={self.domain!r}, "
            f"client_cert={pem(self.client_cert)}, "
            f"client_private_key={'None' if self.client_private_key is None else '<redacted>'})"
        )

    __str__ = __repr__


class ConnectOptions(dict):
    """The keywords for `Client.connect`; its repr hides the API key."""

    def __repr__(self) -> str:
        return repr({k: "<redacted>" if k == "api_key" and v else v for k, v in self.items()})

    __str__ = __repr__


class TemporalSettings(PayloadKeySettings):
    """Where Temporal is and how to reach it safely (see the module's docstring); with the payload keys."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True, env_ignore_empty=True)

    temporal_address: str | None = Field(
        None,
        description="The Temporal frontend (host:port); unset, localhost:7233 (the dev server of `make up`).",
    )
    temporal_namespace: str = Field("default", description="The Temporal namespace the incidents run in.")
    temporal_task_queue: str = Field(
        "incident-response",
        description="The task queue the workers poll and new incidents start on.",
    )
    temporal_tls: bool | None = Field(
        None,
        description=(
            "true: TLS without a client certificate; false: never TLS; unset: TLS when any other "
            "TEMPORAL_TLS_ setting or an API key is set."
        ),
    )
    temporal_tls_cert: Path | None = Field(
        None,
        description="The mTLS client certificate (a PEM file); needs TEMPORAL_TLS_KEY.",
    )
    temporal_tls_key: Path | None = Field(
        None,
        description="The mTLS client certificate's private key (a PEM file).",
    )
    temporal_tls_ca: Path | None = Field(
        None,
        description="The CA of the server's certificate (a PEM file); unset, the system's roots.",
    )
    temporal_tls_server_name: str | None = Field(
        None,
        description="The name on the server's certificate, when it is not the address's host.",
    )
    temporal_api_key: SecretStr | None = Field(None, description="A Temporal Cloud API key; implies TLS.")

    @property
    def address(self) -> str:
        return self.temporal_address or EMBEDDED_ADDRESS

    def api_key(self) -> str | None:
        """TEMPORAL_API_KEY's value, or None when unset or empty."""
        return (self.temporal_api_key.get_secret_value().strip() or None) if self.temporal_api_key else None

    def tls_config(self) -> TLSConfig | bool:
        """What `Client.connect(tls=...)` gets: False, True (the system's roots), or a TLSConfig."""
        cert, key, ca, name = (
            self.temporal_tls_cert,
            self.temporal_tls_key,
            self.temporal_tls_ca,
            self.temporal_tls_server_name,
        )
        if bool(cert) != bool(key):
            have, missing = (
                ("TEMPORAL_TLS_CERT", "TEMPORAL_TLS_KEY")
                if cert
                else ("TEMPORAL_TLS_KEY", "TEMPORAL_TLS_CERT")
            )
            raise TemporalConfigError(
                f"{have} is set but {missing} is not: mTLS needs both the client certificate "
                "(TEMPORAL_TLS_CERT) and its private key (TEMPORAL_TLS_KEY), or neither"
            )
        if self.temporal_tls is False:
            given = [
                n
                for n, v in (
                    ("TEMPORAL_TLS_CERT", cert),
                    ("TEMPORAL_TLS_CA", ca),
                    ("TEMPORAL_TLS_SERVER_NAME", name),
                )
                if v
            ]
            if given:
                raise TemporalConfigError(
                    f"TEMPORAL_TLS=false contradicts {', '.join(given)}: unset one of them"
                )
            return False
        if not (self.temporal_tls or cert or ca or name or self.api_key()):
            return False
        if not (cert or ca or name):
            return True  # TLS, the server checked against the system's roots
        return RedactedTLSConfig(
            client_cert=_read_pem(cert, "TEMPORAL_TLS_CERT", b"CERTIFICATE") if cert else None,
            client_private_key=_read_pem(key, "TEMPORAL_TLS_KEY", b"PRIVATE KEY") if key else None,
            server_root_ca_cert=_read_pem(ca, "TEMPORAL_TLS_CA", b"CERTIFICATE") if ca else None,
            domain=name or None,
        )

    def payload_codec(self) -> EncryptionCodec | None:
        try:
            return super().payload_codec()
        except PayloadKeyError as e:
            raise TemporalConfigError(str(e)) from None

    def data_converter(self) -> DataConverter:
        return data_converter(self.payload_codec())

    def connect_options(self) -> dict:
        """Every keyword of `Client.connect` these settings decide; raises TemporalConfigError.
        Call it at start-up to fail early without connecting."""
        tls, api_key = self.tls_config(), self.api_key()
        if api_key and tls is False:
            log.warning(
                "TEMPORAL_API_KEY is sent without TLS because TEMPORAL_TLS=false: only for a local "
                "proxy that adds TLS, never across a network"
            )
        return ConnectOptions(
            namespace=self.temporal_namespace, tls=tls, api_key=api_key, data_converter=self.data_converter()
        )

    def describe(self) -> str:
        """The connection's security in words, for a start-up log line (no secrets)."""
        tls = self.tls_config()
        parts = [
            f"{self.address} namespace {self.temporal_namespace}",
            "mTLS" if isinstance(tls, TLSConfig) and tls.client_cert else "TLS" if tls else "no TLS",
        ]
        if self.api_key():
            parts.append("API key")
        codec = self.payload_codec()
        parts.append(f"payloads encrypted (key {codec.key_id})" if codec else "payloads not encrypted")
        return ", ".join(parts)


def _read_pem(path: Path, setting: str, kind: bytes) -> bytes:
    try:
        data = Path(path).expanduser().read_bytes()
    except OSError as e:
        raise TemporalConfigError(f"{setting}: cannot read {path}: {e.strerror}") from None
    if b"-----BEGIN " not in data or kind not in data:
        raise TemporalConfigError(f"{setting}: {path} is not a PEM file with a {kind.decode()}")
    return data


def data_converter(codec: PayloadCodec | None = None) -> DataConverter:
    """pydantic_data_converter, with `codec` on every payload when given. With a codec, failure
    messages and stack traces move into an encoded (so encrypted) attribute too."""
    if codec is None:
        return pydantic_data_converter
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


# Third-party packages with compiled (native) code that workflow code imports, directly or through
# the modules it passes through. The sandbox re-imports every module it does not pass through for
# each workflow run; a native extension cannot be initialised twice, and one that imports lazily
# (pyo3's `cryptography` imports `cryptography.exceptions` the first time it raises
# InvalidSignature) then panics and ABORTS the worker process: one forged attestation, replayed
# by every restarted worker, stopped every incident (issue 20). So each is passed through; the
# SDK's defaults already pass pydantic_core, protobuf and temporalio. tests/test_hostile_input.py
# fails when workflow code brings in a native package that is in neither list.
NATIVE_PASSTHROUGH = (
    "cryptography", "_cffi_backend", "google._upb", "yaml",
    "aiohttp", "frozenlist", "multidict", "propcache", "yarl",
)  # fmt: skip
# Pure, stateless packages workflow code calls that import more of themselves on first use (idna
# loads its tables when an address's domain is first encoded, plan/addresses.py): passed through
# so that import never happens inside a workflow run.
LAZY_PASSTHROUGH = ("idna",)


def workflow_runner(*modules: str) -> SandboxedWorkflowRunner:
    """The sandbox, with the workflow's own modules passed through. Re-importing them for every
    new workflow run was half of an incident's first workflow task (benchmarks/README.md), and
    the alert waits for that task before anyone is paged. They keep no global state; the replay
    tests still run them in the full sandbox (`replay_runner`), which re-imports them and
    enforces its restrictions. Native packages (NATIVE_PASSTHROUGH) are always passed through."""
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(
            *modules, *NATIVE_PASSTHROUGH, *LAZY_PASSTHROUGH
        )
    )


def replay_runner() -> SandboxedWorkflowRunner:
    """The full sandbox, as strict as it gets while native code stays safe: every module of ours
    re-imported per run, only NATIVE_PASSTHROUGH passed through (what the replay tests use)."""
    return workflow_runner()


async def connect(settings: TemporalSettings | None = None, runtime: Runtime | None = None) -> Client:
    settings = settings or TemporalSettings()
    options = settings.connect_options()
    log.info("connecting to Temporal: %s", settings.describe())
    return await Client.connect(settings.address, **options, **({"runtime": runtime} if runtime else {}))


def exit_now(code: int = 0) -> None:
    """End a short-lived client process without interpreter teardown: the SDK's Rust runtime
    threads can abort CPython's finalization (temporalio/sdk-python#300, SIGABRT at exit)."""
    import os
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
