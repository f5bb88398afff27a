"""Payload encryption (issue 9, personal data in Temporal): workers/codec.py, api/codec.py."""

from __future__ import annotations

import base64
import json

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from workers.codec import (
    ENCODING,
    KEY_ID,
    CodecError,
    CodecSettings,
    EncryptionCodec,
    codec_from,
    ensure_dev_key,
    new_key_text,
    parse_keys,
    with_codec,
)

OLD = new_key_text("old")
NEW = new_key_text("new")


def _plain(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(text).encode())


async def test_round_trip_encrypts_and_marks_the_key() -> None:
    codec = EncryptionCodec(parse_keys(OLD))
    original = _plain("admin@newco.test")
    [sealed] = await codec.encode([original])
    assert sealed.metadata["encoding"] == ENCODING
    assert sealed.metadata[KEY_ID] == b"old"
    assert b"admin@newco.test" not in sealed.SerializeToString()
    assert await codec.decode([sealed]) == [original]


async def test_rotation_new_key_encrypts_old_keys_still_decrypt() -> None:
    [by_old] = await EncryptionCodec(parse_keys(OLD)).encode([_plain("a@b.test")])
    rotated = EncryptionCodec(parse_keys(f"{NEW},{OLD}"))
    assert await rotated.decode([by_old]) == [_plain("a@b.test")]
    [by_new] = await rotated.encode([_plain("c@d.test")])
    assert by_new.metadata[KEY_ID] == b"new"
    # a key that is no longer listed: a clear error naming it, never garbage
    with pytest.raises(CodecError, match=r"key 'old'.*not in LIFECYCLES_CODEC_KEYS"):
        await EncryptionCodec(parse_keys(NEW)).decode([by_old])
    # the same id under another key: refused, not decoded
    other_old = new_key_text("old")
    with pytest.raises(CodecError, match="does not decrypt"):
        await EncryptionCodec(parse_keys(other_old)).decode([by_old])


async def test_plain_payloads_pass_through_unchanged() -> None:
    codec = EncryptionCodec(parse_keys(OLD))
    plain = [_plain("x"), Payload(metadata={"encoding": b"binary/null"})]
    assert await codec.decode(plain) == plain


def test_key_list_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    short = base64.b64encode(b"k" * 16).decode()
    for text, msg in [
        (f"a:{short}", "16 bytes"),
        ("nocolon", "expected id:base64-key"),
        ("a:not*base64", "not base64"),
        (f"{OLD},{OLD}", "listed twice"),
    ]:
        with pytest.raises(CodecError, match=msg):
            parse_keys(text)
    monkeypatch.delenv("LIFECYCLES_CODEC_KEYS", raising=False)
    monkeypatch.delenv("LIFECYCLES_CODEC_KEYS_FILE", raising=False)
    assert codec_from() is None  # empty: no encryption
    monkeypatch.setenv("LIFECYCLES_CODEC_KEYS", f"{NEW},{OLD}")
    codec = codec_from()
    assert codec is not None and codec.key_id == "new"


def test_dev_key_written_once_mode_0600(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIFECYCLES_CODEC_KEYS", raising=False)
    monkeypatch.delenv("LIFECYCLES_CODEC_KEYS_FILE", raising=False)
    path = ensure_dev_key(tmp_path)
    assert path is not None and path.stat().st_mode & 0o777 == 0o600
    first = path.read_text()
    codec = codec_from(CodecSettings())
    assert codec is not None and codec.key_id == "dev1"
    monkeypatch.delenv("LIFECYCLES_CODEC_KEYS_FILE")
    assert ensure_dev_key(tmp_path) == path and path.read_text() == first  # kept
    monkeypatch.setenv("LIFECYCLES_CODEC_KEYS", NEW)
    assert ensure_dev_key(tmp_path / "other") is None  # configured keys win


def _encrypting(client: Client, keys: str) -> Client:
    config = client.config()
    config["data_converter"] = with_codec(
        pydantic_data_converter, EncryptionCodec(parse_keys(keys))
    )
    return Client(**config)


async def test_trial_history_holds_no_personal_data_in_clear(env, db, world, deps, task_queue):
    """A trial run by an encrypting client and worker: its raw history (read without the codec)
    holds neither the admin's email nor the company; the codec's client reads it all."""
    from models.trials.contract import ProvisionRequest
    from tests.trials.helpers import until
    from workers.settings import Settings
    from workers.starter import start_trial
    from workers.worker import build_worker
    from workflows.trials.workflow import TrialLifecycle

    enc = _encrypting(env.client, f"{NEW},{OLD}")
    req = world.request()
    async with build_worker(enc, deps, task_queue=task_queue):
        handle = await start_trial(enc, db, Settings(), req, task_queue=task_queue)
        status = await handle.execute_update(TrialLifecycle.provision, ProvisionRequest())
        assert status.state == "active"  # an update and activities, all encrypted
        status = await until(handle, lambda st: st.notices)
        assert "welcome" in [n.kind for n in status.notices]
    raw = await env.client.get_workflow_handle(handle.id).fetch_history()
    stored = b"".join(e.SerializeToString() for e in raw.events)
    assert ENCODING in stored
    assert any(e.HasField("activity_task_scheduled_event_attributes") for e in raw.events)
    for secret in (b"admin@newco.test", b"NewCo", b"sales@partner.test"):
        assert secret not in stored
    decoded = await enc.get_workflow_handle(handle.id).fetch_history()
    assert decoded.events  # the codec client reads the same history
    started = decoded.events[0].workflow_execution_started_event_attributes
    [inp] = await enc.data_converter.decode(started.input.payloads)
    assert inp["customer"]["admin_email"] == "admin@newco.test"


# --- the remote codec endpoint (api/codec.py) ------------------------------------------------


def _codec_client(keys: str, token: str | None = None):
    from fastapi.testclient import TestClient
    from pydantic import SecretStr

    from api import codec as codec_api
    from api.app import create_app
    from workers.settings import Settings

    cs = CodecSettings(
        codec_keys=SecretStr(keys), codec_auth_token=SecretStr(token) if token else None
    )
    app = create_app(Settings(), "postgresql://unused/none")
    app.mount("/codec-test", codec_api.create(Settings(), cs))
    return TestClient(app)  # no lifespan: neither PostgreSQL nor Temporal is reached


def _wire(p: Payload) -> dict:
    return {
        "metadata": {k: base64.b64encode(v).decode() for k, v in p.metadata.items()},
        "data": base64.b64encode(p.data).decode(),
    }


def test_codec_endpoint_speaks_the_remote_codec_protocol() -> None:
    http = _codec_client(f"{NEW},{OLD}", token="s3cret")
    auth = {"Authorization": "Bearer s3cret", "X-Namespace": "default"}
    plain = _plain("admin@newco.test")
    enc = http.post("/codec-test/encode", json={"payloads": [_wire(plain)]}, headers=auth)
    assert enc.status_code == 200
    [sealed] = enc.json()["payloads"]
    assert base64.b64decode(sealed["metadata"]["encoding"]) == ENCODING
    assert base64.b64decode(sealed["metadata"][KEY_ID]) == b"new"
    dec = http.post("/codec-test/decode", json=enc.json(), headers=auth)
    assert dec.status_code == 200 and dec.json() == {"payloads": [_wire(plain)]}
    # plain payloads pass through; no token: 401; not the protocol's body: 400
    same = http.post("/codec-test/decode", json={"payloads": [_wire(plain)]}, headers=auth)
    assert same.json() == {"payloads": [_wire(plain)]}
    assert http.post("/codec-test/decode", json={"payloads": []}).status_code == 401
    assert http.post("/codec-test/decode", json=[1], headers=auth).status_code == 400
    # a payload under a key no longer listed: 422 naming the key
    [by_gone] = [_wire(p) for p in _sealed_by(new_key_text("gone"))]
    gone = http.post("/codec-test/decode", json={"payloads": [by_gone]}, headers=auth)
    assert gone.status_code == 422 and "'gone'" in gone.text


def _sealed_by(key: str) -> list[Payload]:
    import asyncio

    return asyncio.run(EncryptionCodec(parse_keys(key)).encode([_plain("x")]))


def test_codec_endpoint_cors_for_the_temporal_ui(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIFECYCLES_CODEC_KEYS", NEW)
    http = _codec_client(NEW)
    for origin in ("http://127.0.0.1:8233", "http://localhost:8233"):
        pre = http.options(
            "/codec/decode",  # the app's own mount, configured from the environment
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type,x-namespace",
            },
        )
        assert pre.status_code == 200
        assert pre.headers["access-control-allow-origin"] == origin
        assert pre.headers["access-control-allow-credentials"] == "true"
        assert "authorization" in pre.headers["access-control-allow-headers"].lower()
    other = http.options(
        "/codec/decode",
        headers={"Origin": "http://evil.test", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in other.headers
    [sealed] = _sealed_by(NEW)
    dec = http.post("/codec/decode", json={"payloads": [_wire(sealed)]})
    assert dec.status_code == 200 and dec.json() == {"payloads": [_wire(_plain("x"))]}


def test_dev_env_file_names_the_key_file_and_codec_endpoint_never_a_key(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scripts import devenv
    from workers.settings import Settings

    monkeypatch.delenv("LIFECYCLES_CODEC_KEYS", raising=False)
    monkeypatch.delenv("LIFECYCLES_CODEC_KEYS_FILE", raising=False)
    settings = Settings(data_dir=tmp_path, api_bind="127.0.0.1:18999")
    assert "TEMPORAL_CODEC_ENDPOINT" not in devenv.variables(settings)  # no key: no codec
    path = ensure_dev_key(tmp_path)  # what `make dev` does first
    out = devenv.variables(settings)
    assert out["LIFECYCLES_CODEC_KEYS_FILE"] == str(path)
    assert out["TEMPORAL_CODEC_ENDPOINT"] == "http://127.0.0.1:18999/codec"
    assert path is not None and path.read_text().split(":")[1].strip() not in str(out)
