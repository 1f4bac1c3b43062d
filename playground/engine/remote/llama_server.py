"""A model served by llama-server (llama.cpp's HTTP server), behind the backend contract.

What the server gives, and how each contract method uses it:

- `/v1/models` (data[].meta: n_vocab, n_ctx) and `/props` (chat template, BOS/EOS) describe
  the model; the served name is checked against `server_model`, so a server that runs
  another model says so at load instead of answering for it.
- The vocabulary is read once, exactly: `/tokenize` with every id in `content` and
  `with_pieces` returns each id's bytes in one request (a list of bytes where a piece is not
  valid UTF-8). The end-of-generation ids come from the `logit_bias` the server reports for a
  request with `ignore_eos`. Special tokens are found by tokenizing their text with and
  without `parse_special` (the server does not say control from user-defined: both are
  reported as CONTROL).
- `stream` posts token ids to `/completion` with `stream`, `n_probs` (the top-k before the
  sampler) and `cache_prompt` (the server reuses the common prefix of its KV cache).
  llama-server sends no event for a token that ends inside a UTF-8 character: its bytes come
  with the next token, and `tokens_predicted` counts it. Such a token is recovered here by
  its bytes and the model's own top-k, and its probabilities are asked for separately, so
  every token of the reply has its event, in order.
- `score` forces the continuation with a grammar of token ids (`<[id]>`, exact ids, not
  text), so one request decodes one token per position and reports, for each, the forced
  token's exact log-probability over the whole vocabulary and the top-k. Positions whose
  token ends inside a UTF-8 character (not reported) get one request each, with `n_predict`
  1 and the prompt cache reused. A rank beyond the top-k is reported as ">k".

Router mode (`llama-server --models-dir DIR`) hosts several models on one server: set
`server_model` and every request carries it in `model`.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from playground.engine.backend import (
    ALL_SETTINGS,
    TRICK_FIELDS,
    CancelCheck,
    Capabilities,
    RowHook,
    SettingsSource,
    Unsupported,
)
from playground.engine.errors import PromptTooLong
from playground.engine.remote.after_chain import prob_after_chain
from playground.engine.remote.common import (
    MIN_SCORE_K,
    best_candidate,
    biases_by_id,
    incomplete_utf8_tail,
    scored_token,
    segmentations,
    vocab_from_pieces,
)
from playground.engine.remote.errors import (
    ServerHTTPError,
    ServerProtocolError,
    WrongModel,
)
from playground.engine.remote.http import Endpoint, HttpClient
from playground.engine.settings import SamplerSettings
from playground.engine.types import (
    Finished,
    ModelInfo,
    ScoredToken,
    StopReason,
    StreamItem,
    TokenEvent,
    TokenKind,
    TopEntry,
)
from playground.engine.utf8 import IncrementalText
from playground.engine.vocab import Vocab

KIND = "llama-server"
GREEDY = SamplerSettings()

DEFAULT_MAX_TOP_K = 100
"""The largest top-k asked of the server by default (`n_probs`); the server has no cap, but
every alternative is JSON on every token."""

CHATML_FALLBACK = (
    "{%- for message in messages -%}\n"
    "  {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>\n' -}}\n"
    "{%- endfor -%}\n"
    "{%- if add_generation_prompt -%}\n"
    "  {{- '<|im_start|>assistant\n' -}}\n"
    "{%- endif -%}"
)
"""What llama-server reports as the chat template of a GGUF that has none (common/chat.cpp);
reported here as no template, so the playground's own default applies, as in-process."""

_MARKUP = re.compile(rb"^(<[^\s<>]{1,80}>|\[[^\s\[\]]{1,80}\])$")
"""A piece that is a whole tag, like "<tool>" or "[INST]"."""

VOCAB_SPM = 1
"""llama.cpp's LLAMA_VOCAB_TYPE_SPM (/v1/models meta.vocab_type): byte-fallback tokens."""

_SPECIAL_MARKS = (b"<", b"[", b"|")
"""Special tokens' text has one of these; only such pieces are checked for being special."""

SAMPLER_ORDER = ["penalties", "dry", "top_k", "top_p", "min_p", "temperature"]
"""The playground's chain order (llama-cpp-python's): penalties, DRY, top-k, top-p, min-p,
temperature, then the draw."""

_REASONS: dict[str, str] = {
    "full_vocab_ranks": "llama-server reports only the top-k of each position, so a rank "
    "beyond it shows as >k (the shift classes stay exact: they need ranks 1, 2-3 or beyond)",
    "live_sampler_changes": "llama-server fixes a reply's sampler settings when the request "
    "starts; a change applies from the next reply",
    "logit_tricks": "llama-server samples on the server, and the playground's tricks (EOS "
    "boost, ban EOS, the adapter's rules) need the raw logits of every step",
    "logit_rows": "llama-server sends the top-k, not whole next-token distributions, so the "
    "KL between the two models cannot be computed",
    "sampler_trace": "llama-server samples on its side and reports no trace of what its "
    "sampler did to each token",
}


def capabilities(max_top_k: int) -> Capabilities:
    """What a llama-server model can do (see _REASONS for what it cannot)."""
    reasons = dict(_REASONS)
    for name in TRICK_FIELDS:
        reasons[name] = _REASONS["logit_tricks"]
    return Capabilities(
        max_top_k=max_top_k,
        full_vocab_ranks=False,
        score_text=True,
        live_sampler_changes=False,
        logit_tricks=False,
        logit_rows=False,
        sampler_trace=False,
        kv_reuse=True,
        settings=ALL_SETTINGS - TRICK_FIELDS,
        reasons=reasons,
    )


def _piece(raw: Any) -> bytes:
    if isinstance(raw, str):
        return raw.encode("utf-8")
    return bytes(raw)


class LlamaServerBackend:
    """One model on a llama-server, driven over HTTP(S). See the module docstring."""

    def __init__(
        self,
        endpoint: Endpoint,
        server_model: str | None = None,
        *,
        name: str | None = None,
        max_top_k: int = DEFAULT_MAX_TOP_K,
    ) -> None:
        """Connect, check what the server serves, and read the model's vocabulary.

        Raises:
            ServerUnreachable, ServerTimeout, ServerHTTPError, ApiKeyMissing: as named.
            WrongModel: the server does not serve `server_model` (or serves several models
                and none was named).
        """
        self.client = HttpClient(endpoint, KIND)
        self.endpoint = endpoint
        t0 = time.perf_counter()
        self.server_model = self._pick_model(server_model)
        props = self._props()
        meta = self._meta()
        n_vocab = int(meta["n_vocab"])
        self.n_ctx = int(meta.get("n_ctx") or props["default_generation_settings"]["n_ctx"])
        self.vocab: Vocab = self._read_vocab(n_vocab, props, int(meta.get("vocab_type", 0)))
        template = props.get("chat_template") or None
        if template == CHATML_FALLBACK:
            template = None
        model_path = str(props.get("model_path") or self.server_model or "")
        label = self.server_model or model_path.rsplit("/", 1)[-1] or "llama-server model"
        where = f"{KIND} at {self.client.url}"
        if self.server_model:
            where += f" (model {self.server_model})"
        self.info = ModelInfo(
            path=model_path,
            name=name or label,
            architecture=self._architecture(),
            n_vocab=n_vocab,
            n_ctx=self.n_ctx,
            n_ctx_train=int(meta.get("n_ctx_train") or 0),
            n_threads=0,
            chat_template=template,
            metadata={
                "server.kind": KIND,
                "server.url": self.client.url,
                "server.model": self.server_model or "",
                "server.build": str(props.get("build_info", "")),
                "server.slots": str(props.get("total_slots", "")),
                "server.loopback": str(endpoint.is_loopback).lower(),
            },
            load_s=time.perf_counter() - t0,
            runs_on=where,
        )
        self.capabilities: Capabilities = capabilities(max_top_k)
        self.last_prompt_eval_tokens = 0
        self._closed = False

    # ------------------------------------------------------------------ describing

    def _with_model(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.server_model:
            body["model"] = self.server_model
        return body

    def _served(self) -> list[dict[str, Any]]:
        listing = self.client.get("/v1/models")
        data = listing.get("data") if isinstance(listing, dict) else None
        if not isinstance(data, list):
            raise ServerProtocolError(self.client.url, "/v1/models has no data list")
        return [d for d in data if isinstance(d, dict)]

    def _pick_model(self, wanted: str | None) -> str | None:
        served = self._served()
        names = [str(d.get("id")) for d in served]
        if wanted is None:
            if len(served) == 1:
                return None  # a one-model server: no need to name it in requests
            raise WrongModel(self.client.url, "(no server_model set)", names)
        for d in served:
            aliases = [str(a) for a in d.get("aliases") or []]
            if wanted == d.get("id") or wanted in aliases:
                return wanted if len(served) > 1 or "status" in d else None
        raise WrongModel(self.client.url, wanted, names)

    def _props(self) -> dict[str, Any]:
        query = {"model": self.server_model} if self.server_model else None
        # In router mode the first request for a model loads it; allow for that.
        deadline = time.monotonic() + max(self.endpoint.read_timeout, 30.0)
        while True:
            try:
                props = self.client.get("/props", query)
                break
            except ServerHTTPError as exc:
                if exc.status != 503 or time.monotonic() > deadline:
                    raise
                time.sleep(0.25)
        if not isinstance(props, dict) or "default_generation_settings" not in props:
            raise ServerProtocolError(self.client.url, "/props does not describe a model")
        return props

    def _meta(self) -> dict[str, Any]:
        for d in self._served():
            if self.server_model in (None, d.get("id")) and isinstance(d.get("meta"), dict):
                return dict(d["meta"])
        raise ServerProtocolError(self.client.url, "/v1/models gives no meta for the model")

    def _architecture(self) -> str:
        # The server does not say. The one family the playground's template defaults pick by
        # architecture is Gemma, and its vocabulary shows it: <bos> and <start_of_turn>.
        bos = self.vocab.bos
        if (
            bos is not None
            and self.vocab.pieces[bos] == b"<bos>"
            and self.vocab.ids_of_piece(b"<start_of_turn>")
        ):
            return "gemma (from its vocabulary)"
        return "unknown (served by llama-server)"

    def _read_vocab(self, n_vocab: int, props: Mapping[str, Any], vocab_type: int) -> Vocab:
        got = self.client.post(
            "/tokenize",
            self._with_model({"content": list(range(n_vocab)), "with_pieces": True}),
            what="the vocabulary",
        )
        rows = got.get("tokens") if isinstance(got, dict) else None
        if not isinstance(rows, list) or len(rows) != n_vocab:
            raise ServerProtocolError(self.client.url, "/tokenize did not return every id")
        pieces = [_piece(r["piece"]) for r in rows]
        eog = self._eog_ids()
        kinds: dict[int, TokenKind] = {t: TokenKind.CONTROL for t in eog}

        def one_id(text: Any) -> int | None:
            if not text:
                return None
            ids = self._tokenize_raw(str(text), special=True, add_special=False)
            return ids[0] if len(ids) == 1 else None

        bos, eos = one_id(props.get("bos_token")), one_id(props.get("eos_token"))
        for t in (bos, eos):
            if t is not None:
                kinds[t] = TokenKind.CONTROL
        kinds.update(self._special_kinds(pieces, set(kinds)))
        if vocab_type == VOCAB_SPM:
            kinds.update({t: TokenKind.BYTE for t in _byte_run(pieces)})
        probe = self._tokenize_raw("a", special=False, add_special=True)
        add_bos = bos is not None and bool(probe) and probe[0] == bos
        eot = None
        for text in (b"<end_of_turn>", b"<|im_end|>", b"<|eot_id|>", b"<|end|>"):
            hits = [t for t in eog if pieces[t] == text]
            if hits:
                eot = hits[0]
                break
        return vocab_from_pieces(
            pieces, kinds, eog=frozenset(eog), bos=bos, eos=eos, eot=eot, add_bos=add_bos
        )

    def _eog_ids(self) -> list[int]:
        # With ignore_eos the server adds -inf to every end-of-generation id and echoes the
        # biases in generation_settings (as null: JSON has no -inf).
        got = self.client.post(
            "/completion",
            self._with_model(
                {"prompt": [0], "n_predict": 0, "ignore_eos": True, "cache_prompt": False}
            ),
            what="the end-of-generation ids",
        )
        biases = (got.get("generation_settings") or {}).get("logit_bias") or []
        ids: list[int] = []
        for b in biases:
            if isinstance(b, dict) and "token" in b:
                ids.append(int(b["token"]))
            elif isinstance(b, list) and b:
                ids.append(int(b[0]))
        return ids

    def _special_kinds(self, pieces: Sequence[bytes], known: set[int]) -> dict[int, TokenKind]:
        """Tokens whose text is one token only when special text is parsed: CONTROL.

        Only pieces with a special-looking mark are checked, all in two requests: the texts
        go as one mixed `content` list, each followed by a known control id as separator
        (plain text never tokenizes to a control id).
        """
        if not known:
            return {}
        sep = min(known)
        cands = [
            t
            for t, p in enumerate(pieces)
            if t not in known and p and any(m in p for m in _SPECIAL_MARKS) and _valid_utf8(p)
        ]
        if not cands:
            return {}
        content: list[Any] = []
        for t in cands:
            content += [pieces[t].decode("utf-8"), sep]
        as_special = _split_on(self._tokenize_raw(content, special=True, add_special=False), sep)
        as_text = _split_on(self._tokenize_raw(content, special=False, add_special=False), sep)
        if len(as_special) < len(cands) or len(as_text) < len(cands):
            return {}
        out: dict[int, TokenKind] = {}
        for t, s, x in zip(cands, as_special, as_text, strict=False):
            if s != [t]:
                continue
            if x != [t]:
                out[t] = TokenKind.CONTROL
            elif _MARKUP.match(pieces[t]):
                # User-defined tokens are whole even in plain text; llama.cpp does not say
                # which ones they are, so a whole-markup piece like "<tool>" counts as one.
                out[t] = TokenKind.USER_DEFINED
        return out

    # ------------------------------------------------------------------ tokens

    def _tokenize_raw(self, content: Any, *, special: bool, add_special: bool) -> list[int]:
        got = self.client.post(
            "/tokenize",
            self._with_model(
                {"content": content, "add_special": add_special, "parse_special": special}
            ),
            what="tokenization",
        )
        toks = got.get("tokens") if isinstance(got, dict) else None
        if not isinstance(toks, list):
            raise ServerProtocolError(self.client.url, "/tokenize returned no token list")
        return [int(t) for t in toks]

    def tokenize(
        self, text: str | bytes, *, special: bool = True, add_bos: bool = False
    ) -> list[int]:
        """Tokenize on the server (`/tokenize`). Bytes that are not UTF-8 go as byte tokens.

        Raises:
            RemoteError: the server failed or is unreachable.
        """
        if isinstance(text, bytes):
            try:
                content: Any = text.decode("utf-8")
            except UnicodeDecodeError:
                content = self._mixed(text)
        else:
            content = text
        if content == "" or content == []:
            return (
                [self.vocab.bos]
                if add_bos and self.vocab.add_bos and self.vocab.bos is not None
                else []
            )
        return self._tokenize_raw(content, special=special, add_special=add_bos)

    def _mixed(self, data: bytes) -> list[Any]:
        """Text runs as strings, each undecodable byte as the id whose piece is that byte."""
        out: list[Any] = []
        text = data.decode("utf-8", errors="surrogateescape")
        run: list[str] = []
        for ch in text:
            if "\udc80" <= ch <= "\udcff":
                if run:
                    out.append("".join(run))
                    run = []
                ids = self.vocab.ids_of_piece(bytes([ord(ch) - 0xDC00]))
                if not ids:
                    raise ValueError(f"no token carries the byte 0x{ord(ch) - 0xDC00:02X}")
                out.append(ids[0])
            else:
                run.append(ch)
        if run:
            out.append("".join(run))
        return out

    def detokenize(self, tokens: Sequence[int]) -> bytes:
        """The exact bytes of the tokens, from the vocabulary read at load."""
        pieces = self.vocab.pieces
        return b"".join(pieces[t] for t in tokens)

    # ------------------------------------------------------------------ sampling

    def _biases(self, s: SamplerSettings) -> dict[int, float]:
        """The logit biases by token id (-inf bans); a text is one piece or its tokens."""
        return biases_by_id(
            s,
            lambda text: (
                self.vocab.ids_of_piece(text.encode("utf-8")) or self.tokenize(text, special=False)
            ),
        )

    def _sampling(self, s: SamplerSettings, biases: Mapping[int, float]) -> dict[str, Any]:
        bias = [[t, False if b == -math.inf else b] for t, b in biases.items()]
        return {
            "temperature": max(0.0, s.temperature),
            # Greedy takes the arg-max whatever top-k keeps, so keep one: with top-k off the
            # server's chain softmaxes the whole vocabulary every token (262k for Gemma),
            # which cost a fifth of Gemma's speed beside n_probs (bench/bench_remote.py).
            # The top-k shown is read before the chain, so it is unchanged.
            "top_k": 1 if s.greedy else s.top_k,
            "top_p": s.top_p,
            "min_p": s.min_p,
            "typical_p": 1.0,
            "xtc_probability": 0.0,
            "mirostat": 0,
            "top_n_sigma": -1.0,
            "repeat_penalty": s.repeat_penalty,
            # -1 (the whole context) is the playground's; the server wants a count
            "repeat_last_n": self.n_ctx if s.penalty_last_n < 0 else s.penalty_last_n,
            "frequency_penalty": s.frequency_penalty,
            "presence_penalty": s.presence_penalty,
            "dry_multiplier": s.dry_multiplier,
            "dry_base": s.dry_base,
            "dry_allowed_length": s.dry_allowed_length,
            "dry_penalty_last_n": self.n_ctx if s.dry_penalty_last_n < 0 else s.dry_penalty_last_n,
            "dry_sequence_breakers": list(s.dry_sequence_breakers),
            "logit_bias": bias,
            "seed": s.seed,
            "samplers": SAMPLER_ORDER,
        }

    def _check_settings(self, s: SamplerSettings) -> None:
        self.capabilities.check_settings(self.info.name, s)
        if s.penalty_source == "reply" and (s.penalties_on or s.dry_on):
            raise Unsupported(
                self.info.name,
                'penalties over the reply only (penalty_source = "reply")',
                "llama-server puts the prompt tokens in the penalty history; set "
                'penalty_source = "prompt+reply" for this model',
            )

    def _check_top_k(self, top_k: int) -> None:
        if top_k > self.capabilities.max_top_k:
            raise Unsupported(
                self.info.name,
                f"a top-{top_k}",
                f"this model's server is asked for at most {self.capabilities.max_top_k} "
                "alternatives (max_top_k in models.toml)",
            )

    def _top(self, raw: Sequence[Mapping[str, Any]]) -> tuple[TopEntry, ...]:
        pieces = self.vocab.pieces
        return tuple(TopEntry(int(e["id"]), pieces[int(e["id"])], float(e["logprob"])) for e in raw)

    # ------------------------------------------------------------------ stream

    def stream(
        self,
        prompt: Sequence[int],
        *,
        settings: SettingsSource = GREEDY,
        max_tokens: int = 256,
        stop: Sequence[str] = (),
        top_k: int = 5,
        cancel: CancelCheck | None = None,
        turn_start: int | None = None,
    ) -> Iterator[StreamItem]:
        """Generate on the server: one TokenEvent per token (every token, in order), then
        one Finished. See the contract (playground.engine.backend.Backend.stream).

        `prob_after` is worked out from the top-k before the sampler (the server reports
        that one or the one after it, never both, and the playground shows the one before):
        exact where the chain's kept set lies inside the list, NaN where it cannot be known
        (see playground.engine.remote.after_chain).

        Raises:
            PromptTooLong, Unsupported: before anything is sent.
            StreamDropped, ServerTimeout, ServerHTTPError: after the tokens received so far
                were yielded.
        """
        if callable(settings):
            raise Unsupported(
                self.info.name, "live sampler changes", _REASONS["live_sampler_changes"]
            )
        self._check_settings(settings)
        self._check_top_k(top_k)
        tokens = list(prompt)
        if not tokens:
            raise ValueError("empty prompt: a model needs at least one token (e.g. BOS)")
        if len(tokens) + 1 > self.n_ctx:
            raise PromptTooLong(len(tokens), self.n_ctx)
        return self._stream(tokens, settings, max_tokens, tuple(stop), top_k, cancel)

    def _stream(
        self,
        tokens: list[int],
        s: SamplerSettings,
        max_tokens: int,
        stop: tuple[str, ...],
        top_k: int,
        cancel: CancelCheck | None,
    ) -> Iterator[StreamItem]:
        # Enough alternatives that a top-k sampler's kept set is all in the list, so the
        # probability after the chain can be worked out (after_chain.py).
        chain_k = s.top_k if 0 < s.top_k <= self.capabilities.max_top_k else 0
        biases = self._biases(s)
        body = self._with_model(
            {
                "prompt": tokens,
                "n_predict": max_tokens,
                "n_probs": max(top_k, chain_k, 1),
                "stream": True,
                "cache_prompt": True,
                "return_tokens": True,
                "stop": list(stop),
                **self._sampling(s, biases),
            }
        )
        t0 = time.perf_counter()
        events = self.client.stream("/completion", body)
        generated: list[int] = []
        text = IncrementalText()
        vocab = self.vocab
        predicted = 0
        final: dict[str, Any] | None = None
        reason = StopReason.MAX_TOKENS

        def event(tok: int, logprob: float, top: tuple[TopEntry, ...]) -> TokenEvent:
            is_eog = tok in vocab.eog
            piece = vocab.pieces[tok]
            generated.append(tok)
            events.received = len(generated)
            return TokenEvent(
                index=len(generated) - 1,
                id=tok,
                piece=piece,
                kind=vocab.kind(tok),
                text="" if is_eog else text.push(piece),
                logprob=logprob,
                top=top[:top_k],
                prob_after=prob_after_chain(top, tok, logprob, s, biases),
                is_eog=is_eog,
            )

        try:
            for ev in events:
                if ev.get("stop"):
                    final = ev
                    events.finished = True
                    continue
                if cancel is not None and cancel():
                    reason = StopReason.CANCELLED
                    break
                probs = ev.get("completion_probabilities") or []
                toks = [int(t) for t in ev.get("tokens") or []]
                if not toks or not probs:
                    continue
                now = int(ev.get("tokens_predicted", predicted + 1))
                missing = now - predicted - 1
                if missing > 0:
                    data = str(ev.get("content", "")).encode("utf-8")
                    piece = vocab.pieces[toks[0]]
                    head = data[: len(data) - len(piece)] if data.endswith(piece) else b""
                    for tok, lp, top in self._recover(tokens + generated, head, missing, top_k):
                        yield event(tok, lp, top)
                predicted = now
                p = probs[0]
                yield event(toks[0], float(p["logprob"]), self._top(p.get("top_logprobs", ())))
        finally:
            events.close()
        if final is not None:
            left = int(final.get("tokens_predicted", predicted)) - predicted
            if left > 0:
                # Tokens at the very end that stopped inside a UTF-8 character were never
                # sent: take them again from the server, then their probabilities.
                for tok, lp, top in self._tail(tokens + generated, left, s, biases, top_k):
                    yield event(tok, lp, top)
            kind = final.get("stop_type")
            if kind == "eos" or (generated and generated[-1] in vocab.eog):
                reason = StopReason.EOG
            elif kind == "word":
                reason = StopReason.STOP_STRING
            elif final.get("truncated") or len(tokens) + len(generated) >= self.n_ctx:
                reason = StopReason.CONTEXT_FULL if len(generated) < max_tokens else reason
        text.flush()
        reply = text.text
        if reason is StopReason.STOP_STRING or stop:
            cuts = [reply.find(x) for x in stop if x in reply]
            if cuts:
                reply = reply[: min(cuts)]
                reason = StopReason.STOP_STRING
        timings = (final or {}).get("timings") or {}
        cached = int(timings.get("cache_n", 0) or 0)
        self.last_prompt_eval_tokens = len(tokens) - cached
        elapsed = float(timings.get("predicted_ms", 0) or 0) / 1000 or time.perf_counter() - t0
        yield Finished(
            reason=reason,
            tokens=len(generated),
            elapsed_s=elapsed,
            text=reply,
            prompt_tokens=len(tokens),
            reused_tokens=cached,
            prompt_eval_s=float(timings.get("prompt_ms", 0) or 0) / 1000,
        )

    def _recover(
        self, prefix: list[int], data: bytes, count: int, top_k: int
    ) -> Iterator[tuple[int, float, tuple[TopEntry, ...]]]:
        """The `count` tokens the stream left out before this event, carrying `data`."""
        cands = segmentations(data, count, self.vocab)
        if not cands:
            raise ServerProtocolError(
                self.client.url,
                f"{count} token(s) of the reply were not sent and their bytes {data!r} match "
                "no tokens",
            )
        k = max(top_k, MIN_SCORE_K)
        chosen: list[int] = []
        for i in range(count):
            top = self._position_top(prefix + chosen, k)
            cands = best_candidate(cands, i, top)
            tok = cands[0][i]
            cands = [c for c in cands if c[i] == tok]
            st = scored_token(tok, None, top, k, top_k)
            chosen.append(tok)
            yield tok, st.logprob, st.top

    def _tail(
        self,
        prefix: list[int],
        count: int,
        s: SamplerSettings,
        biases: Mapping[int, float],
        top_k: int,
    ) -> Iterator[tuple[int, float, tuple[TopEntry, ...]]]:
        got = self.client.post(
            "/completion",
            self._with_model(
                {
                    "prompt": prefix,
                    "n_predict": count,
                    "cache_prompt": True,
                    "return_tokens": True,
                    **self._sampling(s, biases),
                }
            ),
            what="the last tokens of the reply",
        )
        toks = [int(t) for t in (got.get("tokens") or [])][:count]
        k = max(top_k, MIN_SCORE_K)
        for i, tok in enumerate(toks):
            top = self._position_top(prefix + toks[:i], k)
            st = scored_token(tok, None, top, k, top_k)
            yield tok, st.logprob, st.top

    def _safe_token(self) -> int:
        """A token whose text can never be cut mid-character (EOS renders as nothing)."""
        if self.vocab.eos is not None:
            return self.vocab.eos
        for tok, piece in enumerate(self.vocab.pieces):
            if len(piece) == 1 and piece.isalpha():
                return tok
        return 0

    def _position(
        self, prefix: list[int], k: int, force: int | None = None
    ) -> tuple[tuple[TopEntry, ...], float | None]:
        """The top-k before sampling at the position after `prefix`, in one decode with the
        prompt cache, and the log-probability of `force` when it is given.

        The token forced with a logit bias is the one the server reports on: `force` when
        its bytes stand alone as complete text (the server sends nothing for a token that
        ends inside a character), else a harmless one (EOS, which renders as nothing).
        """
        target = force if force is not None else self._safe_token()
        got = self.client.post(
            "/completion",
            self._with_model(
                {
                    "prompt": prefix,
                    "n_predict": 1,
                    "n_probs": k,
                    "cache_prompt": True,
                    "temperature": 0.0,
                    "samplers": ["temperature"],
                    "logit_bias": [[target, 1.0e4]],
                    "repeat_penalty": 1.0,
                    "dry_multiplier": 0.0,
                }
            ),
            what="one position's probabilities",
        )
        probs = got.get("completion_probabilities") or []
        if not probs:
            raise ServerProtocolError(self.client.url, "a one-token request returned no probs")
        p = probs[0]
        lp = float(p["logprob"]) if force is not None and int(p["id"]) == force else None
        return self._top(p.get("top_logprobs", ())), lp

    def _position_top(self, prefix: list[int], k: int) -> tuple[TopEntry, ...]:
        return self._position(prefix, k)[0]

    # ------------------------------------------------------------------ score

    def score(
        self,
        context: Sequence[int],
        continuation: Sequence[int],
        *,
        top_k: int = 5,
        row_hook: RowHook | None = None,
    ) -> list[ScoredToken]:
        """Teacher-force `continuation` on the server and score each token.

        Each position's log-probability is exact (the server reports the forced token's
        probability over the whole vocabulary); its rank is exact within the top
        `capabilities.max_top_k`, and ">k" beyond. Positions whose token ends inside a UTF-8
        character cost one request each and know the log-probability only inside the top-k
        (an upper bound beyond it).

        Raises:
            ValueError: an empty context.
            PromptTooLong: context + continuation exceed the server's context.
            Unsupported: row_hook (no full rows) or top_k above max_top_k.
        """
        if row_hook is not None:
            raise Unsupported(self.info.name, "full next-token rows", _REASONS["logit_rows"])
        self._check_top_k(top_k)
        ctx = list(context)
        cont = list(continuation)
        if not ctx:
            raise ValueError("score() needs a non-empty context (at least BOS)")
        if len(ctx) + len(cont) > self.n_ctx:
            raise PromptTooLong(len(ctx) + len(cont), self.n_ctx)
        if not cont:
            return []
        # Ask for the most alternatives the model allows: ranks up to it are exact.
        k = self.capabilities.max_top_k
        out: list[ScoredToken] = []
        start = 0
        while start < len(cont):
            if not self._whole(cont[start]):
                out.append(self._score_one(ctx + cont[:start], cont[start], k, top_k))
                start += 1
                continue
            # A run of tokens that are whole text, up to the next token that is not.
            end = start
            while end + 1 < len(cont) and self._whole(cont[end + 1]):
                end += 1
            out += self._score_run(ctx + cont[:start], cont[start : end + 1], k, top_k)
            start = end + 1
        self.last_prompt_eval_tokens = len(ctx) + len(cont) - 1
        return out

    def _whole(self, tok: int) -> bool:
        """Whether a grammar can force the token: its text is valid UTF-8 on its own
        (llama.cpp's grammar decodes every piece), and it does not end generation (the
        grammar allows an end-of-generation token only once the grammar is complete)."""
        return tok not in self.vocab.eog and _valid_utf8(self._rendered(tok))

    def _score_one(self, prefix: list[int], tok: int, k: int, top_k: int) -> ScoredToken:
        """A token no grammar can force, scored alone: exactly when its bytes do not leave a
        character open (the server reports it then), else from the top-k."""
        force = None if incomplete_utf8_tail(self._rendered(tok)) else tok
        top, lp = self._position(prefix, k, force)
        return scored_token(tok, lp, top, k, top_k)

    def _rendered(self, tok: int) -> bytes:
        # What the server's reply text gets for a token: control tokens render as nothing.
        return b"" if self.vocab.kind(tok) is TokenKind.CONTROL else self.vocab.pieces[tok]

    def _score_run(
        self, prefix: list[int], run: list[int], k: int, top_k: int
    ) -> list[ScoredToken]:
        grammar = "root ::= " + " ".join(f"<[{t}]>" for t in run)
        got = self.client.post(
            "/completion",
            self._with_model(
                {
                    "prompt": prefix,
                    "n_predict": len(run),
                    "n_probs": k,
                    "cache_prompt": True,
                    "temperature": 0.0,
                    "samplers": ["temperature"],
                    "grammar": grammar,
                    "repeat_penalty": 1.0,
                    "dry_multiplier": 0.0,
                    "return_tokens": True,
                }
            ),
            what=f"scoring {len(run)} tokens",
        )
        probs = list(got.get("completion_probabilities") or [])
        # Which positions the server reports: those that leave the text complete.
        text = b""
        kept: list[int] = []
        for i, tok in enumerate(run):
            text += self._rendered(tok)
            if not incomplete_utf8_tail(text):
                kept.append(i)
        reported: dict[int, Mapping[str, Any]] = {}
        if len(probs) >= len(kept) and all(
            int(probs[j]["id"]) == run[i] for j, i in enumerate(kept)
        ):
            reported = {i: probs[j] for j, i in enumerate(kept)}
        out: list[ScoredToken] = []
        for i, tok in enumerate(run):
            p = reported.get(i)
            if p is not None:
                top = self._top(p.get("top_logprobs", ()))
                out.append(scored_token(tok, float(p["logprob"]), top, k, top_k))
            else:
                out.append(self._score_one(prefix + run[:i], tok, k, top_k))
        return out

    # ------------------------------------------------------------------ lifetime

    def close(self) -> None:
        """Drop the connection (the server keeps running). Idempotent."""
        if not self._closed:
            self._closed = True
            self.client.close()

    def __enter__(self) -> LlamaServerBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _byte_run(pieces: Sequence[bytes]) -> range:
    """SentencePiece's 256 byte-fallback tokens: consecutive ids with pieces 0x00 .. 0xFF."""
    for start in range(len(pieces) - 255):
        if pieces[start] == b"\x00" and all(pieces[start + b] == bytes([b]) for b in range(256)):
            return range(start, start + 256)
    return range(0)


def _valid_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _split_on(ids: list[int], sep: int) -> list[list[int]]:
    """The runs of a token list between `sep` ids (each run ends with one)."""
    out: list[list[int]] = [[]]
    for t in ids:
        if t == sep:
            out.append([])
        else:
            out[-1].append(t)
    return out[:-1]
