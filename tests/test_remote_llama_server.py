"""llama-server as a backend, on a real llama-server started on 127.0.0.1.

The contract suite (tests/contract/) runs against the same server; the tests here are what
only a server has: the vocabulary read over HTTP agrees with llama.cpp's in-process one, a
server that is down, killed mid-stream, slow, refusing, or serving another model gives its
own clear message, HTTPS and the API key work, and `playground models` describes it.
"""

from __future__ import annotations

import http.server
import json
import math
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from playground.engine.backend import Backend
from playground.engine.remote import (
    ApiKeyMissing,
    Endpoint,
    ServerHTTPError,
    ServerTimeout,
    ServerUnreachable,
    StreamDropped,
    WrongModel,
    open_server,
)
from playground.engine.types import Finished, StopReason, TokenEvent
from tests import tiny_gguf as tg
from tests.servers import RunningServer, free_port, llama_server, self_signed_cert

KEY_ENV = "PLAYGROUND_TEST_LLAMA_KEY"
SECRET = "s3cr3t-test-key-0123456789"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("llama-server")


@pytest.fixture(scope="module")
def router(workdir: Path, tiny_pair) -> Iterator[RunningServer]:  # type: ignore[no-untyped-def]
    """One server in router mode hosting both tiny models."""
    models = {"tiny-base": tiny_pair.base, "tiny-aligned": tiny_pair.aligned}
    with llama_server(models=models, n_ctx=256, workdir=workdir) as server:
        yield server


@pytest.fixture(scope="module")
def remote_aligned(router: RunningServer) -> Iterator[Backend]:
    model = open_server("llama-server", Endpoint(router.url), "tiny-aligned")
    yield model
    model.close()


def chatml_prompt(user: str) -> str:
    return (
        f"<|im_start|>system\n{tg.CHATML_DEFAULT_SYSTEM}<|im_end|>\n"
        f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"
    )


# --------------------------------------------------------------------------- vocabulary


def test_the_vocabulary_over_http_is_llama_cpps_own(remote_aligned: Backend, tiny_aligned) -> None:  # type: ignore[no-untyped-def]
    remote, local = remote_aligned.vocab, tiny_aligned.vocab
    assert remote.pieces == local.pieces  # every id's exact bytes, long and CJK included
    assert remote.eog == local.eog
    assert (remote.bos, remote.eos, remote.add_bos) == (local.bos, local.eos, local.add_bos)
    for tok in range(local.size):
        assert remote.is_special(tok) == local.is_special(tok), local.pieces[tok]
        assert (remote.kind(tok).value == "byte") == (local.kind(tok).value == "byte")
    text = chatml_prompt("hello 本 🙂")
    assert remote_aligned.tokenize(text) == tiny_aligned.tokenize(text)
    assert remote_aligned.tokenize(text, add_bos=True) == tiny_aligned.tokenize(text, add_bos=True)


def test_bytes_that_are_not_utf8_tokenize_to_byte_tokens(remote_aligned: Backend) -> None:
    data = "日".encode() + "本".encode()[:2]  # a character cut short
    ids = remote_aligned.tokenize(data, special=False)
    assert remote_aligned.detokenize(ids) == data


def test_the_server_template_and_where_it_runs(
    remote_aligned: Backend, router: RunningServer
) -> None:
    info = remote_aligned.info
    assert info.chat_template == tg.CHATML_TEMPLATE
    assert router.url in info.runs_on and "tiny-aligned" in info.runs_on
    assert info.metadata["server.loopback"] == "true"


# --------------------------------------------------------------------------- agreement


def test_greedy_stream_matches_in_process(remote_aligned: Backend, tiny_aligned) -> None:  # type: ignore[no-untyped-def]
    prompt = tiny_aligned.tokenize(chatml_prompt("hello"))
    local = [e for e in tiny_aligned.stream(prompt, max_tokens=40, top_k=5)]
    remote = list(remote_aligned.stream(prompt, max_tokens=40, top_k=5))
    lev = [e for e in local if isinstance(e, TokenEvent)]
    rev = [e for e in remote if isinstance(e, TokenEvent)]
    # the byte tokens of 本 and 🙂 are never sent alone by llama-server; they are all here
    assert [e.id for e in rev] == [e.id for e in lev] == [*tg.ALIGNED_REPLY, tg.IM_END]
    for a, b in zip(lev, rev, strict=True):
        assert b.logprob == pytest.approx(a.logprob, abs=2e-3)
        assert [t.id for t in b.top] == [t.id for t in a.top]
        assert b.text == a.text and b.piece == a.piece
    done = remote[-1]
    assert isinstance(done, Finished) and done.reason is StopReason.EOG
    assert done.text == tg.ALIGNED_REPLY_TEXT


def test_scores_match_in_process(router: RunningServer, tiny_base) -> None:  # type: ignore[no-untyped-def]
    remote = open_server("llama-server", Endpoint(router.url), "tiny-base")
    try:
        context = tiny_base.tokenize("hello", add_bos=True)
        reply = list(tg.ALIGNED_REPLY)
        local = tiny_base.score(context, reply, top_k=5)
        got = remote.score(context, reply, top_k=5)
        k = remote.capabilities.max_top_k
        for a, b in zip(local, got, strict=True):
            if a.rank <= k:
                assert b.rank == a.rank and b.rank_exact
                assert b.logprob == pytest.approx(a.logprob, abs=2e-3)
            else:
                assert b.rank == k + 1 and not b.rank_exact
            assert [t.id for t in b.top] == [t.id for t in a.top]
    finally:
        remote.close()


# --------------------------------------------------------------------------- failures


def test_a_server_that_is_down_says_so() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ServerUnreachable, match="connection refused") as err:
        open_server("llama-server", Endpoint(url))
    assert url in str(err.value) and "Fix:" in str(err.value)


def test_a_server_serving_another_model_says_which(router: RunningServer) -> None:
    with pytest.raises(WrongModel, match="tiny-aligned") as err:
        open_server("llama-server", Endpoint(router.url), "llama-3.1-8b")
    assert "'llama-3.1-8b'" in str(err.value) and "server_model" in str(err.value)


def test_a_router_without_a_model_name_lists_its_models(router: RunningServer) -> None:
    with pytest.raises(WrongModel, match="tiny-base"):
        open_server("llama-server", Endpoint(router.url))


class _Hung(threading.Thread):
    """A socket that accepts connections and never answers: a stuck server."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []

    def run(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)


def test_a_server_that_does_not_answer_times_out() -> None:
    hung = _Hung()
    hung.start()
    try:
        ep = Endpoint(f"http://127.0.0.1:{hung.port}", read_timeout=0.5)
        with pytest.raises(ServerTimeout, match=r"within 0\.5 s") as err:
            open_server("llama-server", ep)
        assert "read_timeout" in str(err.value)
    finally:
        hung.sock.close()


class _Failing(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        body = json.dumps({"error": {"code": 500, "message": "CUDA out of memory"}}).encode()
        self.send_response(500)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_a_server_error_carries_the_servers_message() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Failing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        with pytest.raises(ServerHTTPError, match="500.*CUDA out of memory") as err:
            open_server("llama-server", Endpoint(url))
        assert err.value.status == 500 and "server's log" in str(err.value)
    finally:
        server.shutdown()


def test_a_server_killed_mid_stream_keeps_the_partial_reply(
    workdir: Path, smollm2_path: Path
) -> None:
    # A real model (tens of tokens a second), so the kill lands in the middle of the reply.
    with llama_server(smollm2_path, n_ctx=1024, workdir=workdir) as server:
        model = open_server("llama-server", Endpoint(server.url))
        prompt = model.tokenize("Here is a long list of animals, one per line:\n1.")
        got: list[TokenEvent] = []
        with pytest.raises(StreamDropped) as err:
            for item in model.stream(prompt, max_tokens=600, top_k=5):
                assert isinstance(item, TokenEvent)
                got.append(item)
                if len(got) == 3:
                    server.kill()
        model.close()
    assert 3 <= len(got) < 600
    assert [e.index for e in got] == list(range(len(got)))
    assert "partial reply is kept" in str(err.value) and server.url in str(err.value)
    assert err.value.received == len(got)


# --------------------------------------------------------------------------- key and TLS


def test_the_api_key_goes_as_a_bearer_header_only(
    workdir: Path,
    tiny_pair,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    with llama_server(tiny_pair.base, n_ctx=128, api_key=SECRET, workdir=workdir) as server:
        monkeypatch.delenv(KEY_ENV, raising=False)
        with pytest.raises(ApiKeyMissing, match=KEY_ENV):
            open_server("llama-server", Endpoint(server.url, api_key_env=KEY_ENV))
        monkeypatch.setenv(KEY_ENV, "wrong-key")
        with pytest.raises(ServerHTTPError, match="401") as err:
            open_server("llama-server", Endpoint(server.url, api_key_env=KEY_ENV))
        assert f"${KEY_ENV}" in str(err.value) and "wrong-key" not in str(err.value)
        monkeypatch.setenv(KEY_ENV, SECRET)
        model = open_server("llama-server", Endpoint(server.url, api_key_env=KEY_ENV))
        events = list(model.stream(model.tokenize("hello", add_bos=True), max_tokens=3))
        assert len(events) == 4
        assert SECRET not in repr(model.client) and SECRET not in repr(model.info)  # type: ignore[attr-defined]
        model.close()


def test_https_with_the_servers_own_certificate(workdir: Path, tiny_pair) -> None:  # type: ignore[no-untyped-def]
    cert, key = self_signed_cert(workdir)
    with llama_server(tiny_pair.base, n_ctx=128, tls=(cert, key), workdir=workdir) as server:
        assert server.url.startswith("https://")
        with pytest.raises(ServerUnreachable, match="not trusted.*ca_file"):
            open_server("llama-server", Endpoint(server.url))
        model = open_server("llama-server", Endpoint(server.url, ca_file=str(cert)))
        events = list(model.stream(model.tokenize("hello", add_bos=True), max_tokens=3))
        assert [e.id for e in events if isinstance(e, TokenEvent)] == list(tg.BASE_CYCLE[:3])
        model.close()


# --------------------------------------------------------------------------- models command


def test_playground_models_describes_a_server(router: RunningServer, tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    cfg = tmp_path / "models.toml"
    cfg.write_text(
        '[pair]\nbase = "rb"\naligned = "ra"\n\n'
        f'[models.rb]\nrole = "base"\nkind = "llama-server"\nurl = "{router.url}"\n'
        'server_model = "tiny-base"\n\n'
        f'[models.ra]\nrole = "aligned"\nkind = "llama-server"\nurl = "{router.url}"\n'
        'server_model = "tiny-aligned"\n\n'
        f'[models.down]\nrole = "base"\nkind = "llama-server"\nurl = "{dead}"\n'
    )
    out = subprocess.run(
        [sys.executable, "-m", "playground", "--config", str(cfg), "models"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 1  # one model is unreachable
    text = out.stdout
    assert f"runs on: llama-server at {router.url} (model tiny-aligned)" in text
    assert f"serves: tiny-aligned, {tg.VOCAB_SIZE} tokens, context" in text
    assert "no   ranks over the full vocabulary" in text and "yes  scoring a given text" in text
    assert "status: unreachable" in text and dead in text


def test_nan_is_reported_for_prob_after_when_sampling(
    remote_aligned: Backend, tiny_aligned
) -> None:  # type: ignore[no-untyped-def]
    from playground.engine.settings import SamplerSettings

    prompt = tiny_aligned.tokenize(chatml_prompt("hello"))
    s = SamplerSettings(temperature=0.7, seed=7, penalty_source="prompt+reply")
    events = [
        e
        for e in remote_aligned.stream(prompt, settings=s, max_tokens=3)
        if isinstance(e, TokenEvent)
    ]
    assert events and all(math.isnan(e.prob_after) for e in events)


def test_compare_runs_on_the_server_pair(router: RunningServer, tmp_path: Path) -> None:
    cfg = tmp_path / "models.toml"
    cfg.write_text(
        '[pair]\nbase = "rb"\naligned = "ra"\n\n'
        f'[models.rb]\nrole = "base"\nkind = "llama-server"\nurl = "{router.url}"\n'
        'server_model = "tiny-base"\n\n'
        f'[models.ra]\nrole = "aligned"\nkind = "llama-server"\nurl = "{router.url}"\n'
        'server_model = "tiny-aligned"\n'
    )
    out = subprocess.run(
        [sys.executable, "-m", "playground", "--config", str(cfg), "compare", "--prompt",
         "hello", "--base-context", "raw", "-n", "40", "--json"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    text = json.dumps(result)
    assert tg.ALIGNED_REPLY_TEXT.split()[0] in text
    assert '"shifted"' in text or '"marginal"' in text or '"unshifted"' in text
