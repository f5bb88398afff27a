"""Payload encryption (issue 9, personal data in Temporal): an AES-GCM payload codec.

Every payload the clients and workers of this project send to Temporal (workflow inputs and
results, signal/update/query arguments and answers, activity arguments, memos, failure
details when encoded) is encrypted with the first key of ``LIFECYCLES_CODEC_KEYS`` and marked
``encoding: binary/encrypted`` + ``encryption-key-id``. Every key of the list decrypts, so a
new key is rolled out by putting it first. A payload without the encrypted encoding passes
through unchanged (histories recorded before encryption, workflows started before it).

Settings (read from the environment here, beside ``workers/settings.py``):

- ``LIFECYCLES_CODEC_KEYS``: ``id:base64-32-byte-key[,id:key...]``; empty: no encryption.
- ``LIFECYCLES_CODEC_KEYS_FILE``: a file holding that same text (``make dev`` writes one);
  used when ``LIFECYCLES_CODEC_KEYS`` is empty.
- ``LIFECYCLES_CODEC_AUTH_TOKEN``: a bearer token the codec endpoint (api/codec.py) requires.
- ``LIFECYCLES_CODEC_CORS_ORIGINS``: browser origins (the Temporal UI) the endpoint answers.

Search attributes, workflow ids, task queues and workflow types are never encrypted: they hold
no personal data (see docs/codec.md).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import secrets
from collections.abc import Sequence
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter, PayloadCodec

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
NONCE_BYTES = 12


class CodecError(ValueError):
    """A key list that cannot be used, or a payload that cannot be decrypted."""


class CodecSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LIFECYCLES_", extra="ignore")

    codec_keys: SecretStr = Field(
        SecretStr(""),
        description="Payload encryption keys `id:base64-32-byte-key,...`: the first "
        "encrypts, all decrypt (rotation). Empty: payloads are not encrypted.",
    )
    codec_keys_file: Path | None = Field(
        None, description="File holding the key list (used when LIFECYCLES_CODEC_KEYS is empty)."
    )
    codec_auth_token: SecretStr | None = Field(
        None, description="Bearer token the codec endpoint (/codec) requires; unset: none."
    )
    codec_cors_origins: list[str] = Field(
        ["http://127.0.0.1:8233", "http://localhost:8233"],
        description="Origins (the Temporal UI) allowed to call the codec endpoint.",
    )

    def key_text(self) -> str:
        text = self.codec_keys.get_secret_value().strip()
        if not text and self.codec_keys_file is not None:
            text = self.codec_keys_file.read_text().strip()
        return text


def parse_keys(text: str) -> list[tuple[str, bytes]]:
    """``id:base64key,...`` -> [(id, 32 bytes)], first first. Raises :class:`CodecError`."""
    keys: list[tuple[str, bytes]] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        key_id, sep, b64 = item.partition(":")
        key_id = key_id.strip()
        if not sep or not key_id:
            raise CodecError(f"codec key {len(keys) + 1}: expected id:base64-key")
        try:
            key = base64.b64decode(b64.strip(), validate=True)
        except binascii.Error:
            raise CodecError(f"codec key {key_id!r}: not base64") from None
        if len(key) != 32:
            raise CodecError(f"codec key {key_id!r}: {len(key)} bytes, AES-256 needs 32")
        if any(key_id == k for k, _ in keys):
            raise CodecError(f"codec key {key_id!r}: listed twice")
        keys.append((key_id, key))
    return keys


def new_key_text(key_id: str | None = None) -> str:
    """A fresh ``id:base64key`` entry (32 random bytes)."""
    key_id = key_id or f"k{secrets.token_hex(4)}"
    return f"{key_id}:{base64.b64encode(secrets.token_bytes(32)).decode()}"


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM; the key id is bound into the ciphertext as associated data."""

    def __init__(self, keys: Sequence[tuple[str, bytes]]) -> None:
        if not keys:
            raise CodecError("an encryption codec needs at least one key")
        self.key_id = keys[0][0]
        self._keys = {key_id: AESGCM(key) for key_id, key in keys}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        aead = self._keys[self.key_id]
        out = []
        for p in payloads:
            nonce = secrets.token_bytes(NONCE_BYTES)
            sealed = aead.encrypt(nonce, p.SerializeToString(), self.key_id.encode())
            out.append(
                Payload(
                    metadata={"encoding": ENCODING, KEY_ID: self.key_id.encode()},
                    data=nonce + sealed,
                )
            )
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for p in payloads:
            if p.metadata.get("encoding") != ENCODING:
                out.append(p)  # plain: recorded before encryption, or never encrypted
                continue
            key_id = p.metadata.get(KEY_ID, b"").decode()
            aead = self._keys.get(key_id)
            if aead is None:
                raise CodecError(
                    f"payload encrypted with key {key_id!r}, which is not in "
                    f"LIFECYCLES_CODEC_KEYS (known: {', '.join(self._keys)})"
                )
            try:
                plain = aead.decrypt(p.data[:NONCE_BYTES], p.data[NONCE_BYTES:], key_id.encode())
            except Exception:  # InvalidTag: another key under the same id, or tampered
                raise CodecError(f"payload under key {key_id!r} does not decrypt") from None
            out.append(Payload.FromString(plain))
        return out


def codec_from(settings: CodecSettings | None = None) -> EncryptionCodec | None:
    """The codec the settings ask for, or None when no key is set."""
    keys = parse_keys((settings or CodecSettings()).key_text())
    return EncryptionCodec(keys) if keys else None


def with_codec(converter: DataConverter, codec: PayloadCodec | None) -> DataConverter:
    return dataclasses.replace(converter, payload_codec=codec) if codec else converter


def ensure_dev_key(data_dir: Path) -> Path | None:
    """``make dev``: unless keys are configured, use ``<data dir>/codec.keys`` (written once,
    mode 0600) and point ``LIFECYCLES_CODEC_KEYS_FILE`` of this process at it. Returns the file,
    or None when keys come from ``LIFECYCLES_CODEC_KEYS``/``_FILE`` already."""
    settings = CodecSettings()
    if settings.key_text() or settings.codec_keys_file is not None:
        return None
    path = (data_dir / "codec.keys").absolute()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(new_key_text("dev1") + "\n")
    os.environ["LIFECYCLES_CODEC_KEYS_FILE"] = str(path)
    return path
