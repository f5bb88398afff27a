"""The env file of the dev stack (issue 15): `lifecycles dev` writes ``<data dir>/env`` once
its servers answer, and ``source .lifecycles/env`` in any shell puts this checkout's
`lifecycles` and `temporal` on PATH and points both at this stack.

The `temporal` CLI reads ``TEMPORAL_*`` variables only (never ``LIFECYCLES_*``); the
`lifecycles` CLI reads ``LIFECYCLES_*``; the file sets both from the same settings. Paths are
absolute, so the file works from any directory. Secrets (an API key, a database password) are
not written: a database named by ``LIFECYCLES_DATABASE_URL`` is written without its
password, which then comes from ``PGPASSWORD`` or ``~/.pgpass``.
"""

from __future__ import annotations

import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path

from scripts.binaries import temporal_cli
from workers.codec import CodecSettings
from workers.settings import Settings


def for_dev(settings: Settings) -> Settings:
    """Defaults that follow the dev stack's own addresses: the set-up link of order emails
    (SO-1) points at this stack's API unless LIFECYCLES_ORDER_SETUP_URL says otherwise."""
    if "order_setup_url" in settings.model_fields_set:
        return settings
    return settings.model_copy(
        update={"order_setup_url": f"http://{settings.api_bind}/orders/setup"}
    )


def env_path(settings: Settings) -> Path:
    return settings.data_dir / "env"


def shown(path: Path) -> str:
    """``path`` as the user would type it: relative to the current directory when under it."""
    absolute = path.absolute()
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return str(absolute)


def variables(settings: Settings) -> dict[str, str]:
    """What the env file exports, PATH aside. Another dev-stack option that the CLIs must
    see (a payload codec, say) adds its variables here."""
    out = {
        "TEMPORAL_ADDRESS": settings.temporal_address,
        "TEMPORAL_NAMESPACE": settings.temporal_namespace,
        "LIFECYCLES_TEMPORAL_ADDRESS": settings.temporal_address,
        "LIFECYCLES_TEMPORAL_NAMESPACE": settings.temporal_namespace,
        "LIFECYCLES_TASK_QUEUE": settings.task_queue,
        "LIFECYCLES_DATA_DIR": str(settings.data_dir.absolute()),
        "LIFECYCLES_API_BIND": settings.api_bind,
        "LIFECYCLES_UI_PORT": str(settings.ui_port),
        "LIFECYCLES_ORDER_SETUP_URL": settings.order_setup_url,  # orders the CLI starts
    }
    if settings.day_seconds != Settings.model_fields["day_seconds"].default:
        out["LIFECYCLES_DAY_SECONDS"] = repr(settings.day_seconds)  # trials the CLI starts
    tls = [
        ("TEMPORAL_TLS_CLIENT_CERT_PATH", "TLS_CERT", settings.temporal_tls_cert),
        ("TEMPORAL_TLS_CLIENT_KEY_PATH", "TLS_KEY", settings.temporal_tls_key),
        ("TEMPORAL_TLS_SERVER_CA_CERT_PATH", "TLS_CA", settings.temporal_tls_ca),
    ]
    for temporal_name, ours, file in tls:
        if file:
            out[temporal_name] = out[f"LIFECYCLES_TEMPORAL_{ours}"] = str(file.absolute())
    codec = CodecSettings()  # issue 9: the key file's path, never a key; the CLI's codec
    if codec.codec_keys_file is not None and not codec.codec_keys.get_secret_value():
        out["LIFECYCLES_CODEC_KEYS_FILE"] = str(codec.codec_keys_file.absolute())
    if codec.key_text():
        out["TEMPORAL_CODEC_ENDPOINT"] = f"http://{settings.api_bind}/codec"
    if settings.database_url:
        from sqlalchemy.engine import make_url

        url = make_url(settings.database_url).set(password=None)
        out["LIFECYCLES_DATABASE_URL"] = url.render_as_string(hide_password=False)
    return out


def write(settings: Settings) -> Path:
    """Write the env file (mode 600) and return its path."""
    bins = [Path(sys.executable).parent.absolute(), temporal_cli(settings.temporal_cli).parent]
    path_dirs = ":".join(dict.fromkeys(shlex.quote(str(d.absolute())) for d in bins))
    path = env_path(settings)
    lines = [
        f"# Written by `lifecycles dev` (make dev) at {datetime.now(UTC):%Y-%m-%d %H:%M:%S}Z.",
        f"# `source {shown(path)}` in any shell: this checkout's `lifecycles` and `temporal`",
        "# on PATH, both talking to this dev stack.",
        f'export PATH={path_dirs}:"$PATH"',
        *(f"export {k}={shlex.quote(v)}" for k, v in variables(settings).items()),
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text("\n".join(lines) + "\n")
    return path
