"""What goes wrong between playground and a model server, each worded for the user.

Every message names the server (its URL, never its API key), says what happened, and says
what to do. A failure in the middle of a stream is raised after the tokens already received
were yielded, so the caller keeps the partial reply.
"""

from __future__ import annotations

from playground.engine.errors import EngineError


class RemoteError(EngineError):
    """Base class of the server errors; `url` is the server's base URL."""

    def __init__(self, url: str, message: str) -> None:
        super().__init__(message)
        self.url = url


class ServerUnreachable(RemoteError):
    """Nothing answers at the URL: the server is down, the host or port is wrong, or TLS
    failed."""

    def __init__(self, url: str, reason: str, kind: str = "server") -> None:
        super().__init__(
            url,
            f"Cannot reach the {kind} at {url}: {reason}. Fix: start the server (see the "
            "README's 'Bigger models' section), or correct url in models.toml.",
        )
        self.reason = reason


class ServerTimeout(RemoteError):
    """The server accepted the connection but did not answer in time."""

    def __init__(self, url: str, what: str, seconds: float, setting: str) -> None:
        super().__init__(
            url,
            f"The server at {url} did not answer {what} within {seconds:g} s. Fix: check that "
            f"it is not overloaded or stuck, or raise {setting} for this model in models.toml.",
        )
        self.seconds = seconds


class ServerHTTPError(RemoteError):
    """The server answered with a 4xx or 5xx status."""

    def __init__(
        self, url: str, path: str, status: int, detail: str, key_env: str | None = None
    ) -> None:
        if status in (401, 403):
            fix = (
                f"set ${key_env} to the server's API key"
                if key_env
                else 'the server wants an API key: add api_key_env = "NAME" to this model '
                "in models.toml and put the key in that environment variable"
            )
        elif status == 404:
            fix = (
                "the server does not have this endpoint or model: check kind, url and "
                "server_model in models.toml"
            )
        elif status == 400:
            fix = "the server refused the request; its message above says why"
        elif status == 503:
            fix = "the server is still loading the model or is busy: try again shortly"
        else:
            fix = "look at the server's log; restart it if it keeps failing"
        super().__init__(
            url, f"The server at {url} answered {status} to {path}: {detail}. Fix: {fix}."
        )
        self.status = status
        self.path = path
        self.detail = detail


class StreamDropped(RemoteError):
    """The connection ended in the middle of a reply."""

    def __init__(self, url: str, received: int, reason: str) -> None:
        super().__init__(
            url,
            f"The connection to {url} dropped after {received} tokens of the reply "
            f"({reason}). The partial reply is kept. Fix: check that the server is still "
            "running (it may have crashed or restarted), then generate again.",
        )
        self.received = received


class WrongModel(RemoteError):
    """The server serves another model than the one models.toml names."""

    def __init__(self, url: str, wanted: str, served: list[str]) -> None:
        listed = ", ".join(repr(s) for s in served) or "nothing"
        super().__init__(
            url,
            f"The server at {url} serves {listed}, not {wanted!r}. Fix: set server_model in "
            "models.toml to one of those, or start the server with the model you want.",
        )
        self.wanted = wanted
        self.served = served


class ApiKeyMissing(RemoteError):
    """models.toml names an environment variable for the key, and it is not set."""

    def __init__(self, url: str, env: str) -> None:
        super().__init__(
            url,
            f"The model at {url} needs an API key from ${env}, which is not set. Fix: "
            f"export {env}=... before starting playground (the key never goes in models.toml).",
        )
        self.env = env


class ServerProtocolError(RemoteError):
    """The server answered, but not in the shape this backend expects."""

    def __init__(self, url: str, what: str) -> None:
        super().__init__(
            url,
            f"The server at {url} answered in an unexpected shape: {what}. Fix: check that "
            "kind in models.toml matches the server (llama-server or vllm) and that the "
            "server is a supported version.",
        )
