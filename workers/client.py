"""The one place a Temporal client is built: every app uses the pydantic data converter, with
the payload codec of ``LIFECYCLES_CODEC_KEYS`` (workers/codec.py) when keys are set."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import TLSConfig

from workers.codec import codec_from, with_codec
from workers.settings import Settings

_runtime: Runtime | None = None


def runtime(settings: Settings) -> Runtime | None:
    """One runtime per process; it serves SDK metrics in Prometheus format when configured."""
    global _runtime
    if _runtime is None and settings.metrics_bind:
        _runtime = Runtime(
            telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=settings.metrics_bind))
        )
    return _runtime


def tls_config(settings: Settings) -> TLSConfig | bool:
    if not (settings.temporal_tls_cert or settings.temporal_tls_ca):
        return bool(settings.temporal_api_key)  # API keys need TLS
    return TLSConfig(
        client_cert=settings.temporal_tls_cert.read_bytes() if settings.temporal_tls_cert else None,
        client_private_key=(
            settings.temporal_tls_key.read_bytes() if settings.temporal_tls_key else None
        ),
        server_root_ca_cert=(
            settings.temporal_tls_ca.read_bytes() if settings.temporal_tls_ca else None
        ),
    )


def data_converter() -> DataConverter:
    """The pydantic converter, encrypting payloads when codec keys are set."""
    return with_codec(pydantic_data_converter, codec_from())


async def connect(settings: Settings, *, with_metrics: bool = False) -> Client:
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        tls=tls_config(settings),
        api_key=settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None,
        data_converter=data_converter(),
        runtime=runtime(settings) if with_metrics else None,
    )


async def register_search_attributes(client: Client) -> None:
    """Register the project's search attributes on a running server (idempotent)."""
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import (
        AddSearchAttributesRequest,
        ListSearchAttributesRequest,
    )
    from temporalio.service import RPCError, RPCStatusCode

    from workflows.search_attributes import ALL

    try:
        existing = set(
            (
                await client.operator_service.list_search_attributes(
                    ListSearchAttributesRequest(namespace=client.namespace)
                )
            ).custom_attributes
        )
    except RPCError as err:  # the time-skipping test server cannot list them
        if err.status != RPCStatusCode.UNIMPLEMENTED:
            raise
        existing = set()
    missing = {
        # The SDK's SearchAttributeIndexedValueType shares the proto enum's numbers.
        k.name: IndexedValueType.ValueType(int(k.indexed_value_type))
        for k in ALL
        if k.name not in existing
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=client.namespace, search_attributes=missing)
        )
