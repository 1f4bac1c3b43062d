"""Models on servers: llama-server and vLLM behind the backend contract.

Each backend owns its HTTP client, its error messages and its way of getting exact bytes and
ranks out of its server; nothing here loads llama.cpp. `open_server` is the factory that
`playground.config.registry.open_model` calls for a models.toml entry with a server kind.
"""

from __future__ import annotations

from playground.engine.backend import Backend
from playground.engine.remote.errors import (
    ApiKeyMissing,
    RemoteError,
    ServerHTTPError,
    ServerProtocolError,
    ServerTimeout,
    ServerUnreachable,
    StreamDropped,
    WrongModel,
)
from playground.engine.remote.http import Endpoint

SERVER_KINDS = ("llama-server", "vllm")


def open_server(
    kind: str,
    endpoint: Endpoint,
    server_model: str | None = None,
    *,
    name: str | None = None,
    max_top_k: int = 100,
    tokenizer: str | None = None,
) -> Backend:
    """Connect to a model on a server and describe it.

    Args:
        kind: "llama-server" or "vllm".
        endpoint: where the server is, its key's variable and timeouts.
        server_model: the model's name on the server; None takes its only model.
        name: the display name.
        max_top_k: the largest top-k asked per token.
        tokenizer: vLLM only: a folder with the model's tokenizer.json, for exact bytes
            (default: the server's model folder, when it is on this machine).

    Raises:
        RemoteError: unreachable, timed out, refused, or serving another model.
        ValueError: an unknown kind.
    """
    if kind == "llama-server":
        from playground.engine.remote.llama_server import LlamaServerBackend

        return LlamaServerBackend(endpoint, server_model, name=name, max_top_k=max_top_k)
    if kind == "vllm":
        from playground.engine.remote.vllm import VLLMBackend

        return VLLMBackend(
            endpoint, server_model, name=name, max_top_k=max_top_k, tokenizer=tokenizer
        )
    raise ValueError(f"unknown server kind {kind!r}; known: {', '.join(SERVER_KINDS)}")


__all__ = [
    "SERVER_KINDS",
    "ApiKeyMissing",
    "Endpoint",
    "RemoteError",
    "ServerHTTPError",
    "ServerProtocolError",
    "ServerTimeout",
    "ServerUnreachable",
    "StreamDropped",
    "WrongModel",
    "open_server",
]
