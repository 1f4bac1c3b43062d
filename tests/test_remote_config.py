"""Server models in models.toml, and the pure parts of the remote backends.

The server kinds' keys are validated at load with the file, the line and the key; the
helpers that turn a server's top-k lists into ranks and recover the tokens a stream left
out are checked here without a server (tests/test_remote_llama_server.py runs a real one).
"""

from __future__ import annotations

import http.server
import math
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from playground.config import ConfigError
from playground.config.models import parse_config
from playground.engine.remote.common import (
    incomplete_utf8_tail,
    scored_token,
    segmentations,
    vocab_from_pieces,
)
from playground.engine.remote.http import Endpoint, HttpClient
from playground.engine.types import TokenKind, TopEntry

HEAD = '[pair]\nbase = "b"\naligned = "b"\n\n[models.b]\nrole = "base"\n'


def parse(body: str) -> object:
    return parse_config(HEAD + body, Path("/cfg/models.toml"))


def test_a_llama_server_model_with_every_key() -> None:
    cfg = parse(
        'kind = "llama-server"\nurl = "https://gpu-box:8443/"\nserver_model = "llama31"\n'
        'api_key_env = "LLAMA_KEY"\nconnect_timeout = 2\nread_timeout = 30.5\n'
        'ca_file = "ca.pem"\nmax_top_k = 20\n'
    )
    spec = cfg.models["b"]  # type: ignore[attr-defined]
    assert spec.is_remote and spec.kind == "llama-server"
    assert spec.url == "https://gpu-box:8443" and spec.server_model == "llama31"
    assert spec.api_key_env == "LLAMA_KEY"
    assert (spec.connect_timeout, spec.read_timeout, spec.max_top_k) == (2.0, 30.5, 20)
    assert spec.ca_file == Path("/cfg/ca.pem") and spec.path is None


def test_a_gguf_model_is_the_default_kind() -> None:
    spec = parse('path = "m.gguf"\n').models["b"]  # type: ignore[attr-defined]
    assert spec.kind == "gguf" and not spec.is_remote and spec.url is None


@pytest.mark.parametrize(
    ("body", "line", "needle"),
    [
        ('kind = "ollama"\nurl = "http://x:1"\n', 7, "kind in [models.b] must be one of"),
        ('kind = "vllm"\n', 5, 'needs url = "..."'),
        ('kind = "vllm"\nurl = "gpu-box:8000"\n', 8, "must be http://HOST:PORT"),
        ('kind = "vllm"\nurl = "http://x:1"\npath = "m.gguf"\n', 9, "does not apply"),
        ('path = "m.gguf"\nurl = "http://x:1"\n', 8, 'add kind = "llama-server"'),
        (
            'kind = "llama-server"\nurl = "http://x:1"\napi_key_env = "sk-abc-123"\n',
            9,
            "NAME of an environment variable",
        ),
        ('kind = "llama-server"\nurl = "http://x:1"\nread_timeout = 0\n', 9, "seconds > 0"),
        ('kind = "llama-server"\nurl = "http://x:1"\nmax_top_k = 0\n', 9, "from 1 to 1000"),
    ],
)
def test_bad_server_entries_name_the_line_and_the_fix(body: str, line: int, needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse(body)
    assert needle in str(err.value)
    assert err.value.line == line, str(err.value)


# --------------------------------------------------------------------------- ranks


def top(*lps: float) -> tuple[TopEntry, ...]:
    return tuple(TopEntry(i, b"x", lp) for i, lp in enumerate(lps))


def test_a_rank_inside_the_top_k_is_exact() -> None:
    s = scored_token(2, -1.5, top(-0.5, -1.0, -1.5, -3.0), asked_k=4, keep=2)
    assert (s.rank, s.rank_exact, s.logprob) == (3, True, -1.5)
    assert [t.id for t in s.top] == [0, 1]


def test_a_rank_beyond_the_top_k_is_a_bound() -> None:
    s = scored_token(9, -7.25, top(-0.5, -1.0, -1.5), asked_k=3, keep=3)
    assert (s.rank, s.rank_exact, s.rank_text, s.logprob) == (4, False, ">3", -7.25)
    # without the server's own logprob, the list's last one bounds it from above
    s = scored_token(9, None, top(-0.5, -1.0, -1.5), asked_k=3, keep=3)
    assert s.logprob == -1.5 and not s.rank_exact


def test_ties_share_the_better_rank() -> None:
    s = scored_token(1, None, top(-1.0, -1.0, -2.0), asked_k=3, keep=3)
    assert s.rank == 1 and not math.isnan(s.logprob)


# --------------------------------------------------------------------------- dropped tokens


@given(st.text(min_size=0, max_size=12))
def test_a_complete_text_never_ends_inside_a_character(text: str) -> None:
    data = text.encode("utf-8")
    assert not incomplete_utf8_tail(data)
    for ch in text:
        enc = ch.encode("utf-8")
        for cut in range(1, len(enc)):
            assert incomplete_utf8_tail(data + enc[:cut])


def _vocab() -> object:
    pieces = [b"<s>", b"a", b"\xe6", b"\x9c", b"\xac", b"\xe6\x9c", b"\x9c\xac"]
    return vocab_from_pieces(
        pieces,
        {0: TokenKind.CONTROL},
        eog=frozenset({0}),
        bos=0,
        eos=0,
        eot=None,
        add_bos=False,
    )


def test_the_bytes_a_stream_left_out_split_into_tokens() -> None:
    vocab = _vocab()
    # "本" is e6 9c ac: two tokens can carry e6 9c in two ways, or one token in one way
    assert sorted(segmentations(b"\xe6\x9c", 2, vocab)) == [(2, 3)]  # type: ignore[arg-type]
    assert segmentations(b"\xe6\x9c", 1, vocab) == [(5,)]  # type: ignore[arg-type]
    assert sorted(segmentations(b"\xe6\x9c\xac", 2, vocab)) == [(2, 6), (5, 4)]  # type: ignore[arg-type]
    assert segmentations(b"\xff", 1, vocab) == []  # type: ignore[arg-type]


# --------------------------------------------------------------------------- HTTP client


class _SlowClosing(http.server.BaseHTTPRequestHandler):
    """Answers after 0.4 s and closes the connection each time."""

    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        time.sleep(0.4)
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_a_slow_answer_waits_read_timeout_even_on_a_new_connection() -> None:
    """connect_timeout bounds the connection only; a reply may take up to read_timeout, also
    after the server closed the previous connection."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SlowClosing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        client = HttpClient(Endpoint(url, connect_timeout=0.2, read_timeout=5))
        assert client.get("/a") == {"ok": True}
        assert client.get("/b") == {"ok": True}  # a fresh connection, the same read timeout
        client.close()
    finally:
        server.shutdown()
