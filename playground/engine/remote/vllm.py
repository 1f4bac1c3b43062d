"""A model served by vLLM (its OpenAI-compatible server), behind the backend contract.

- `stream` posts token ids to `/v1/completions` with `stream`, `logprobs: k` (the top-k
  before sampling, up to the server's `--max-logprobs`, 20 by default) and
  `return_tokens_as_token_ids`, so every token arrives as its id ("token_id:N"), never
  matched by decoded text. vLLM reports every token, including one that ends inside a UTF-8
  character.
- `score` is one request: the context and the continuation as the prompt, `max_tokens` 1 and
  `prompt_logprobs: k`. Each prompt token comes back with its log-probability and its exact
  rank over the whole vocabulary, however far outside the top-k.
- `tokenize` and `detokenize` use the server's `/tokenize` and the vocabulary's exact bytes.
  vLLM's API returns tokens as text (U+FFFD for a token that ends inside a character), so the
  exact bytes come from the model's tokenizer files (`tokenizer` in models.toml, or the
  server's own model folder when the server runs on this machine).

KV reuse: vLLM's prefix cache reuses whole blocks of a common prefix (128 tokens by default
on the CPU, `--block-size`); the server reports them with `--enable-prompt-tokens-details`.

Sampling: temperature, top-k, top-p, min-p, seed and logit bias. vLLM applies top-p and min-p
after the temperature (llama.cpp before it). Its repetition penalties follow OpenAI's rules
(no window, frequency and presence over the reply only), so the llama.cpp-style penalties
and DRY are reported as unsupported rather than approximated.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
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
from playground.engine.remote.common import biases_by_id, scored_token
from playground.engine.remote.errors import ServerProtocolError, WrongModel
from playground.engine.remote.hf_tokenizer import load_hf_tokenizer
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

KIND = "vllm"
GREEDY = SamplerSettings()
DEFAULT_MAX_LOGPROBS = 20
"""vLLM's default --max-logprobs."""

PENALTY_FIELDS = frozenset(
    {
        "repeat_penalty",
        "penalty_last_n",
        "frequency_penalty",
        "presence_penalty",
        "penalty_source",
        "dry_multiplier",
        "dry_base",
        "dry_allowed_length",
        "dry_penalty_last_n",
        "dry_sequence_breakers",
    }
)

_REASONS: dict[str, str] = {
    "live_sampler_changes": "vLLM fixes a reply's sampler settings when the request starts; "
    "a change applies from the next reply",
    "logit_tricks": "vLLM samples on the server, and the playground's tricks (EOS boost, ban "
    "EOS, the adapter's rules) need the raw logits of every step",
    "logit_rows": "vLLM sends the top-k, not whole next-token distributions, so the KL "
    "between the two models cannot be computed",
    "penalties": "vLLM's penalties follow OpenAI's rules (no window; frequency and presence "
    "over the reply only), not llama.cpp's, and DRY is not in vLLM",
    "sampler_trace": "vLLM samples on the server and reports no trace of what its sampler did",
    "special_text_as_plain": "vLLM's /tokenize always turns special-token text into the "
    "special token",
}


def capabilities(max_top_k: int) -> Capabilities:
    reasons = dict(_REASONS)
    for name in TRICK_FIELDS:
        reasons[name] = _REASONS["logit_tricks"]
    for name in PENALTY_FIELDS:
        reasons[name] = _REASONS["penalties"]
    return Capabilities(
        max_top_k=max_top_k,
        full_vocab_ranks=True,
        score_text=True,
        live_sampler_changes=False,
        logit_tricks=False,
        logit_rows=False,
        kv_reuse=True,
        sampler_trace=False,
        special_text_as_plain=False,
        settings=ALL_SETTINGS - TRICK_FIELDS - PENALTY_FIELDS,
        reasons=reasons,
    )


def _token_id(key: str) -> int:
    # return_tokens_as_token_ids: "token_id:123"
    return int(key.rsplit(":", 1)[-1])


class VLLMBackend:
    """One model on a vLLM server, over HTTP(S). See the module docstring."""

    def __init__(
        self,
        endpoint: Endpoint,
        server_model: str | None = None,
        *,
        name: str | None = None,
        max_top_k: int = DEFAULT_MAX_LOGPROBS,
        tokenizer: str | None = None,
    ) -> None:
        """Connect, check the served model, and read the vocabulary's exact bytes.

        Raises:
            RemoteError: unreachable, refused, or another model served.
            ServerProtocolError: no tokenizer files to read the exact bytes from.
        """
        self.client = HttpClient(endpoint, KIND)
        self.endpoint = endpoint
        t0 = time.perf_counter()
        served = self._served()
        entry = self._pick(served, server_model)
        self.server_model = str(entry["id"])
        self.n_ctx = int(entry.get("max_model_len") or 2048)
        folder = Path(tokenizer) if tokenizer else Path(str(entry.get("root", "")))
        if not (folder / "tokenizer.json").is_file() and not folder.is_file():
            raise ServerProtocolError(
                self.client.url,
                "vLLM's API gives tokens as text, so playground reads their exact bytes from "
                f"the model's tokenizer files, and none were found at {str(folder)!r}; set "
                'tokenizer = "FOLDER" (with tokenizer.json) for this model in models.toml',
            )
        hf = load_hf_tokenizer(folder)
        self.vocab: Vocab = hf.vocab
        self.byte_level = hf.byte_level
        self._special_texts = [
            p.decode("utf-8", "replace")
            for t, p in enumerate(self.vocab.pieces)
            if p and self.vocab.kind(t) in (TokenKind.CONTROL, TokenKind.USER_DEFINED)
        ]
        self._bos_added_by_server = self._server_adds_bos()
        if self._bos_added_by_server and not self.vocab.add_bos:
            # tokenizer_config.json does not say so, but the model's tokenizer adds BOS: the
            # prompts playground builds must start with it too (Gemma degrades without it)
            self.vocab = dataclasses.replace(self.vocab, add_bos=True)
        notes = {}
        if self.vocab.bos is not None and not self._bos_added_by_server:
            notes["vocab.bos_note"] = (
                "the server's tokenizer does not add BOS; playground adds it where a prompt "
                "asks for one"
            )
        self.info = ModelInfo(
            path=str(entry.get("root", "")),
            name=name or self.server_model,
            architecture=self._architecture(folder),
            n_vocab=self.vocab.size,
            n_ctx=self.n_ctx,
            n_ctx_train=self.n_ctx,
            n_threads=0,
            chat_template=hf.chat_template,
            metadata={
                "server.kind": KIND,
                "server.url": self.client.url,
                "server.model": self.server_model,
                "server.loopback": str(endpoint.is_loopback).lower(),
                "tokenizer": str(folder),
                **notes,
            },
            load_s=time.perf_counter() - t0,
            runs_on=f"{KIND} at {self.client.url} (model {self.server_model})",
        )
        self.capabilities: Capabilities = capabilities(max_top_k)
        self.last_prompt_eval_tokens = 0
        self._closed = False

    # ------------------------------------------------------------------ describing

    def _served(self) -> list[dict[str, Any]]:
        listing = self.client.get("/v1/models")
        data = listing.get("data") if isinstance(listing, dict) else None
        if not isinstance(data, list) or not data:
            raise ServerProtocolError(self.client.url, "/v1/models lists no model")
        return [d for d in data if isinstance(d, dict)]

    def _pick(self, served: list[dict[str, Any]], wanted: str | None) -> dict[str, Any]:
        names = [str(d.get("id")) for d in served]
        if wanted is None:
            if len(served) == 1:
                return served[0]
            raise WrongModel(self.client.url, "(no server_model set)", names)
        for d in served:
            if d.get("id") == wanted:
                return d
        raise WrongModel(self.client.url, wanted, names)

    def _architecture(self, folder: Path) -> str:
        cfg_path = (folder if folder.is_dir() else folder.parent) / "config.json"
        if cfg_path.is_file():
            cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
            model_type = cfg.get("model_type")
            if isinstance(model_type, str):
                return model_type
        return "unknown (served by vLLM)"

    def _server_adds_bos(self) -> bool:
        bos = self.vocab.bos
        if bos is None:
            return False
        ids = self._tokenize_raw("a", add_special=True)
        return bool(ids) and ids[0] == bos

    # ------------------------------------------------------------------ tokens

    def _tokenize_raw(self, text: str, *, add_special: bool) -> list[int]:
        got = self.client.post(
            "/tokenize",
            {"model": self.server_model, "prompt": text, "add_special_tokens": add_special},
            what="tokenization",
        )
        toks = got.get("tokens") if isinstance(got, dict) else None
        if not isinstance(toks, list):
            raise ServerProtocolError(self.client.url, "/tokenize returned no token list")
        return [int(t) for t in toks]

    def tokenize(
        self, text: str | bytes, *, special: bool = True, add_bos: bool = False
    ) -> list[int]:
        """Tokenize on the server (`/tokenize`); BOS is added here when the server's
        tokenizer would not add it.

        Raises:
            Unsupported: special=False on a text that holds special-token text (vLLM always
                parses it).
            RemoteError: the server failed.
        """
        data = text if isinstance(text, str) else text.decode("utf-8", errors="strict")
        if not special and any(t in data for t in self._special_texts):
            raise Unsupported(
                self.info.name,
                "tokenizing special-token text as plain text",
                _REASONS["special_text_as_plain"],
            )
        ids = self._tokenize_raw(data, add_special=False) if data else []
        bos = self.vocab.bos
        if add_bos and bos is not None and (not ids or ids[0] != bos):
            ids = [bos, *ids]
        return ids

    def detokenize(self, tokens: Sequence[int]) -> bytes:
        pieces = self.vocab.pieces
        return b"".join(pieces[t] for t in tokens)

    # ------------------------------------------------------------------ sampling

    def _biases(self, s: SamplerSettings) -> dict[int, float]:
        """The logit biases by token id as vLLM applies them (within +-100; a ban is -100);
        a text is one piece or its tokens."""
        given = biases_by_id(
            s, lambda text: self.vocab.ids_of_piece(text.encode("utf-8")) or self.tokenize(text)
        )
        return {
            t: -100.0 if b == -math.inf else max(-100.0, min(100.0, b)) for t, b in given.items()
        }

    def _sampling(self, s: SamplerSettings, biases: Mapping[int, float]) -> dict[str, Any]:
        bias = {str(t): b for t, b in biases.items()}
        body: dict[str, Any] = {
            "temperature": max(0.0, s.temperature),
            "top_k": s.top_k if s.top_k > 0 else -1,
            "top_p": s.top_p,
            "min_p": s.min_p,
            "skip_special_tokens": False,
            "spaces_between_special_tokens": False,
        }
        if bias:
            body["logit_bias"] = bias
        if s.seed != 0xFFFFFFFF:
            body["seed"] = s.seed
        return body

    @staticmethod
    def _prob_after(
        top: tuple[TopEntry, ...],
        tok: int,
        logprob: float,
        s: SamplerSettings,
        bias: Mapping[int, float],
    ) -> float:
        """The arg-max's probability for greedy decoding, as in-process (biases included
        where the biased tokens are in the list); NaN when sampling: vLLM reports the
        distribution before its sampler, and it tempers before it truncates (llama.cpp's
        chain, which after_chain.py follows, the other way round)."""
        if not s.greedy:
            return math.nan
        return prob_after_chain(top, tok, logprob, s, bias)

    def _check_top_k(self, top_k: int) -> None:
        if top_k > self.capabilities.max_top_k:
            raise Unsupported(
                self.info.name,
                f"a top-{top_k}",
                f"vLLM returns at most {self.capabilities.max_top_k} alternatives (its "
                "--max-logprobs; set max_top_k in models.toml to match)",
            )

    def _top(self, raw: Mapping[str, Any] | None, k: int) -> tuple[TopEntry, ...]:
        if not raw:
            return ()
        pieces = self.vocab.pieces
        rows = sorted(((float(lp), _token_id(key)) for key, lp in raw.items()), reverse=True)
        return tuple(TopEntry(t, pieces[t], lp) for lp, t in rows[:k])

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
        """Generate on vLLM: one TokenEvent per token, then one Finished (see the contract).

        `prob_after` is the token's probability for greedy decoding without biases and NaN
        otherwise (vLLM reports the distribution before the sampler; see _prob_after).

        Raises:
            PromptTooLong, Unsupported: before anything is sent.
            StreamDropped, ServerTimeout, ServerHTTPError: after what arrived was yielded.
        """
        if callable(settings):
            raise Unsupported(
                self.info.name, "live sampler changes", _REASONS["live_sampler_changes"]
            )
        self.capabilities.check_settings(self.info.name, settings)
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
        max_tokens = min(max_tokens, self.n_ctx - len(tokens))
        biases = self._biases(s)
        body = {
            "model": self.server_model,
            "prompt": tokens,
            "max_tokens": max_tokens,
            "logprobs": max(top_k, 1),
            "return_tokens_as_token_ids": True,
            "stream": True,
            "stream_options": {"include_usage": True},
            "stop": list(stop),
            # every end-of-generation token of the vocabulary, as in-process: a converted
            # folder's generation_config.json may name only EOS
            "stop_token_ids": sorted(self.vocab.eog),
            **self._sampling(s, biases),
        }
        t0 = time.perf_counter()
        t_first: float | None = None
        events = self.client.stream("/v1/completions", body)
        vocab = self.vocab
        text = IncrementalText()
        generated: list[int] = []
        finish: str | None = None
        usage: dict[str, Any] = {}
        reason = StopReason.MAX_TOKENS
        try:
            for chunk in events:
                if isinstance(chunk.get("usage"), dict):
                    usage = chunk["usage"]
                for choice in chunk.get("choices") or []:
                    lp = choice.get("logprobs") or {}
                    toks = lp.get("tokens") or []
                    for i, key in enumerate(toks):
                        if cancel is not None and cancel():
                            reason = StopReason.CANCELLED
                            raise _Cancelled
                        tok = _token_id(str(key))
                        if t_first is None:
                            t_first = time.perf_counter()
                        is_eog = tok in vocab.eog
                        piece = vocab.pieces[tok]
                        generated.append(tok)
                        events.received = len(generated)
                        logprob = float(lp["token_logprobs"][i])
                        top = self._top((lp.get("top_logprobs") or [None] * (i + 1))[i], top_k)
                        yield TokenEvent(
                            index=len(generated) - 1,
                            id=tok,
                            piece=piece,
                            kind=vocab.kind(tok),
                            text="" if is_eog else text.push(piece),
                            logprob=logprob,
                            top=top,
                            prob_after=self._prob_after(top, tok, logprob, s, biases),
                            is_eog=is_eog,
                        )
                    if choice.get("finish_reason"):
                        finish = str(choice["finish_reason"])
                        stop_reason = choice.get("stop_reason")
                        if finish == "stop" and isinstance(stop_reason, str):
                            reason = StopReason.STOP_STRING
                        elif finish == "stop":
                            reason = StopReason.EOG
            events.finished = True
        except _Cancelled:
            pass
        finally:
            events.close()
        text.flush()
        reply = text.text
        cuts = [reply.find(x) for x in stop if x in reply]
        if cuts:
            reply = reply[: min(cuts)]
            reason = StopReason.STOP_STRING
        if reason is StopReason.MAX_TOKENS and len(tokens) + len(generated) >= self.n_ctx:
            reason = StopReason.CONTEXT_FULL
        cached = int(((usage.get("prompt_tokens_details") or {}).get("cached_tokens")) or 0)
        self.last_prompt_eval_tokens = len(tokens) - cached
        end = time.perf_counter()
        yield Finished(
            reason=reason,
            tokens=len(generated),
            elapsed_s=end - (t_first or t0),
            text=reply,
            prompt_tokens=len(tokens),
            reused_tokens=cached,
            prompt_eval_s=(t_first or end) - t0,
        )

    # ------------------------------------------------------------------ score

    def score(
        self,
        context: Sequence[int],
        continuation: Sequence[int],
        *,
        top_k: int = 5,
        row_hook: RowHook | None = None,
    ) -> list[ScoredToken]:
        """Score the continuation in one request with `prompt_logprobs`: exact log-probs and
        exact ranks over the whole vocabulary.

        Raises:
            ValueError: an empty context.
            PromptTooLong: context + continuation exceed the server's context.
            Unsupported: row_hook, or top_k above max_top_k.
        """
        if row_hook is not None:
            raise Unsupported(self.info.name, "full next-token rows", _REASONS["logit_rows"])
        self._check_top_k(top_k)
        ctx, cont = list(context), list(continuation)
        if not ctx:
            raise ValueError("score() needs a non-empty context (at least BOS)")
        full = ctx + cont
        if len(full) + 1 > self.n_ctx:
            raise PromptTooLong(len(full), self.n_ctx)
        if not cont:
            return []
        got = self.client.post(
            "/v1/completions",
            {
                "model": self.server_model,
                "prompt": full,
                "max_tokens": 1,
                "temperature": 0.0,
                "prompt_logprobs": max(top_k, 1),
            },
            what=f"scoring {len(cont)} tokens",
        )
        choices = got.get("choices") or [{}]
        rows = choices[0].get("prompt_logprobs") or got.get("prompt_logprobs")
        if not isinstance(rows, list) or len(rows) != len(full):
            raise ServerProtocolError(
                self.client.url, "/v1/completions did not return prompt_logprobs per token"
            )
        out: list[ScoredToken] = []
        pieces = self.vocab.pieces
        for pos in range(len(ctx), len(full)):
            row = rows[pos]
            target = full[pos]
            if not isinstance(row, dict) or str(target) not in row:
                raise ServerProtocolError(self.client.url, f"prompt_logprobs lacks token {pos}")
            entries = sorted(
                ((int(v.get("rank") or 0), int(k), float(v["logprob"])) for k, v in row.items()),
            )
            mine = row[str(target)]
            rank = int(mine.get("rank") or 0)
            top = tuple(TopEntry(t, pieces[t], lp) for r, t, lp in entries if 1 <= r <= top_k)
            if rank < 1:
                out.append(scored_token(target, float(mine["logprob"]), top, top_k, top_k))
            else:
                out.append(ScoredToken(target, float(mine["logprob"]), rank, top[:top_k], True))
        self.last_prompt_eval_tokens = len(full)
        return out

    # ------------------------------------------------------------------ lifetime

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.client.close()

    def __enter__(self) -> VLLMBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Cancelled(Exception):
    pass
