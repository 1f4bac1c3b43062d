"""One GGUF model loaded through llama.cpp, driven through its low-level API.

`Llama(...)` only loads the model and makes the context; everything per token goes through
the C API. llama-cpp-python's `create_completion(stream=True)` runs at a fraction of the
speed at a 262k vocabulary, and its logprobs need `logits_all` and a Python sort per token.
Here each position's logits are read zero-copy, the top-k is found by a threshold scan, and
a teacher-forced score is one batched decode in chunks.

A model is never used from two threads at once (llama-cpp-python #471, #1995): every call
that touches the context holds the model's lock. Two models in two threads are fine, since
ctypes releases the GIL during `llama_decode`.
"""

from __future__ import annotations

import contextlib
import io
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from playground.engine.backend import (
    CancelCheck,
    Capabilities,
    RowHook,
    SettingsSource,
    Unsupported,
    in_process_capabilities,
)
from playground.engine.errors import DecodeError, ModelLoadError, PromptTooLong
from playground.engine.llama import logs
from playground.engine.llama.factory import factory_for
from playground.engine.llama.gguf_file import check_gguf
from playground.engine.llama.template_guard import tolerate_broken_templates
from playground.engine.llama.vocab_loader import load_vocab
from playground.engine.settings import SamplerSettings
from playground.engine.topk import FloatArray, logsumexp, rank_of, top_k_ids
from playground.engine.types import (
    Finished,
    ModelInfo,
    OffloadInfo,
    ScoredToken,
    StopReason,
    StreamItem,
    TokenEvent,
    TopEntry,
)
from playground.engine.utf8 import IncrementalText
from playground.engine.vocab import Vocab

GREEDY = SamplerSettings()

SamplerFactory = Callable[[SamplerSettings, Vocab, Sequence[int], Sequence[int]], Any]
"""(settings, vocab, prompt, generated so far) -> an object with sample/accept/close."""

SCORE_OUTPUTS_PER_DECODE = 64
"""Rows of logits per scoring decode: 64 x 262k x 4 bytes is 64 MiB of output buffer."""


def default_threads(models_sharing: int = 2) -> int:
    """Threads per model so that the pair together uses each core once."""
    return max(1, (os.cpu_count() or 2) // max(1, models_sharing))


@dataclass(frozen=True)
class LoadOptions:
    """How to load one model."""

    n_ctx: int = 4096
    n_threads: int | None = None
    """None: half the cores, so that two models side by side don't oversubscribe them."""
    n_threads_batch: int | None = None
    n_gpu_layers: int = 0
    """-1 offloads every layer; ignored (and reported) on a CPU-only build."""
    n_batch: int = 512
    flash_attn: bool = True


def _int(value: str | None) -> int:
    try:
        return int(value) if value is not None else 0
    except ValueError:
        return 0


class LlamaModel:
    """A loaded GGUF model: tokenize, stream tokens with probabilities, score continuations.

    The in-process backend of the contract (`playground.engine.backend.Backend`): it sees
    every logit, so it has every capability.
    """

    def __init__(self, path: str | os.PathLike[str], options: LoadOptions | None = None) -> None:
        """Load the model.

        Raises:
            ModelFileMissing, NotAGGUF: the file check failed (before llama.cpp saw it).
            ModelLoadError: llama.cpp refused the file.
        """
        import llama_cpp

        opts = options or LoadOptions()
        self._lc = llama_cpp
        p = check_gguf(path)
        logs.install()
        tolerate_broken_templates()
        threads = opts.n_threads or default_threads()
        threads_batch = opts.n_threads_batch or threads
        t0 = time.perf_counter()
        mark = len(logs.recent(0))
        try:
            # verbose=True keeps llama-cpp-python from redirecting fds 1 and 2; its own
            # Python prints go to a buffer, llama.cpp's lines to the log callback.
            with contextlib.redirect_stderr(io.StringIO()):
                self._llama = llama_cpp.Llama(
                    model_path=p,
                    n_ctx=opts.n_ctx,
                    n_batch=opts.n_batch,
                    n_ubatch=opts.n_batch,
                    n_threads=threads,
                    n_threads_batch=threads_batch,
                    n_gpu_layers=opts.n_gpu_layers,
                    # A sliding-window cache (Gemma 3) cannot be trimmed safely unless it is
                    # kept full; for other models the flag changes nothing.
                    swa_full=True,
                    # Without flash attention, a batched decode and a token-by-token one
                    # disagree by up to 0.24 in log-prob on an f16 KV cache (measured on
                    # SmolLM2); with it they agree exactly, so scores match the stream.
                    flash_attn=opts.flash_attn,
                    verbose=True,
                )
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelLoadError(p, str(exc).split("\n")[0]) from exc
        logs.install()  # Llama() may have re-set its own callback; ours must win
        self._ctx = self._llama._ctx.ctx
        self._model = self._llama._model.model
        self._vocab_ptr = llama_cpp.llama_model_get_vocab(self._model)
        self._mem = llama_cpp.llama_get_memory(self._ctx)
        self.vocab: Vocab = load_vocab(llama_cpp, self._vocab_ptr)
        self.n_ctx = int(llama_cpp.llama_n_ctx(self._ctx))
        self.n_batch = opts.n_batch
        self._batch = llama_cpp.llama_batch_init(self.n_batch, 0, 1)
        self._lock = threading.Lock()
        self._cached: list[int] = []
        self._closed = False
        meta = {str(k): str(v) for k, v in self._llama.metadata.items()}
        self.capabilities: Capabilities = in_process_capabilities(self.vocab.size)
        self.info = ModelInfo(
            path=p,
            name=meta.get("general.name") or os.path.basename(p),
            architecture=meta.get("general.architecture", "?"),
            n_vocab=self.vocab.size,
            n_ctx=self.n_ctx,
            n_ctx_train=int(llama_cpp.llama_model_n_ctx_train(self._model)),
            n_threads=threads,
            chat_template=meta.get("tokenizer.chat_template"),
            metadata=meta,
            offload=self._offload_info(opts.n_gpu_layers, logs.recent(0)[mark:]),
            sliding_window=_int(
                meta.get(f"{meta.get('general.architecture')}.attention.sliding_window")
            ),
            load_s=time.perf_counter() - t0,
        )
        self.last_prompt_eval_tokens = 0
        """Prompt tokens the last stream/score call actually decoded (KV reuse shows here)."""

    # ------------------------------------------------------------------ loading helpers

    def _offload_info(self, requested: int, lines: list[str]) -> OffloadInfo:
        lc = self._lc
        supported = bool(lc.llama_supports_gpu_offload())
        total = int(lc.llama_model_n_layer(self._model))
        offloaded = 0
        for line in lines:
            # llama.cpp logs "load_tensors: offloaded 19/19 layers to GPU"
            if "offloaded" in line and "layers to GPU" in line:
                frac = line.split("offloaded", 1)[1].split("layers", 1)[0].strip()
                with contextlib.suppress(ValueError):
                    offloaded, total = (int(x) for x in frac.split("/"))
        return OffloadInfo(supported, requested, offloaded if supported else 0, total)

    # ------------------------------------------------------------------ tokens

    def tokenize(
        self, text: str | bytes, *, special: bool = True, add_bos: bool = False
    ) -> list[int]:
        """Tokenize text.

        Args:
            special: parse special-token text such as `<|im_start|>` as the special token;
                False treats it as plain text (it then splits into many pieces).
            add_bos: prepend BOS if the model's tokenizer adds one.
        """
        data = text.encode("utf-8") if isinstance(text, str) else text
        n_max = len(data) + 8
        buf = (self._lc.llama_token * n_max)()
        n = self._lc.llama_tokenize(self._vocab_ptr, data, len(data), buf, n_max, add_bos, special)
        if n < 0:
            n_max = -n
            buf = (self._lc.llama_token * n_max)()
            n = self._lc.llama_tokenize(
                self._vocab_ptr, data, len(data), buf, n_max, add_bos, special
            )
        return list(buf[:n])

    def detokenize(self, tokens: Sequence[int]) -> bytes:
        return b"".join(self.vocab.pieces[t] for t in tokens)

    # ------------------------------------------------------------------ KV cache

    def _reuse_prefix(self, tokens: Sequence[int], keep_at_most: int) -> int:
        """Keep the longest cached prefix of `tokens` (at most keep_at_most); drop the rest."""
        cached = self._cached
        limit = min(len(cached), keep_at_most)
        p = 0
        while p < limit and cached[p] == tokens[p]:
            p += 1
        if p < len(cached) and not self._lc.llama_memory_seq_rm(self._mem, 0, p, -1):
            # Some caches (recurrent models) cannot be trimmed: start over.
            self._lc.llama_memory_clear(self._mem, True)
            p = 0
        del cached[p:]
        return p

    def reset(self) -> None:
        """Forget the KV cache: the next call evaluates its prompt from scratch."""
        with self._lock:
            self._lc.llama_memory_clear(self._mem, True)
            self._cached.clear()

    def _decode(self, tokens: Sequence[int], start: int, want: Callable[[int], bool]) -> list[int]:
        """Decode tokens at positions start.. with logits for positions where want(pos).

        Returns the batch indices of the rows with logits, in order.
        """
        b = self._batch
        rows: list[int] = []
        n = len(tokens)
        for i, tok in enumerate(tokens):
            pos = start + i
            b.token[i] = tok
            b.pos[i] = pos
            b.n_seq_id[i] = 1
            b.seq_id[i][0] = 0
            out = want(pos)
            b.logits[i] = out
            if out:
                rows.append(i)
        b.n_tokens = n
        rc = int(self._lc.llama_decode(self._ctx, b))
        if rc != 0:
            # The tokens of this batch may be partly in the cache: drop them to stay exact.
            self._lc.llama_memory_seq_rm(self._mem, 0, start, -1)
            del self._cached[start:]
            raise DecodeError(rc)
        self._cached.extend(tokens)
        return rows

    def _logits_row(self, batch_index: int) -> FloatArray:
        ptr = self._lc.llama_get_logits_ith(self._ctx, batch_index)
        return np.ctypeslib.as_array(ptr, shape=(self.vocab.size,))

    def _eval_prompt(self, tokens: Sequence[int]) -> int:
        """Bring the cache to exactly `tokens`, leaving logits for the last one. Returns reuse."""
        reused = self._reuse_prefix(tokens, len(tokens) - 1)
        last = len(tokens) - 1
        pos = reused
        while pos < len(tokens):
            chunk = tokens[pos : pos + self.n_batch]
            self._decode(chunk, pos, lambda q: q == last)
            pos += len(chunk)
        self.last_prompt_eval_tokens = len(tokens) - reused
        return reused

    def prefill(self, tokens: Sequence[int]) -> None:
        """Evaluate a prompt from scratch, logits for the last token only (a plain prefill)."""
        self._check_fits(len(tokens))
        with self._lock:
            self._lc.llama_memory_clear(self._mem, True)
            self._cached.clear()
            self._eval_prompt(tokens)

    def _check_fits(self, n: int, reserve: int = 0) -> None:
        """Raise unless n tokens, plus `reserve` more to generate, fit the context."""
        if n == 0:
            raise ValueError("empty prompt: a model needs at least one token (e.g. BOS)")
        if n + reserve > self.n_ctx:
            raise PromptTooLong(n, self.n_ctx)

    # ------------------------------------------------------------------ generation

    def _top(self, ids: Any, logits: FloatArray, lse: float) -> tuple[TopEntry, ...]:
        pieces = self.vocab.pieces
        return tuple(TopEntry(int(i), pieces[i], float(logits[i]) - lse) for i in ids)

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
        make_sampler: SamplerFactory | None = None,
    ) -> Iterator[StreamItem]:
        """Generate from `prompt`, one TokenEvent per token, then one Finished.

        The KV cache of the previous call is reused for the common prefix. Cancel is checked
        before every decode, so it takes effect within one token. The model's lock is held
        while the generator runs; close it (or run it to the end) to release the model.

        Args:
            turn_start: where the user's turn begins in the prompt (the diversity rule).
            make_sampler: the sampler factory; None builds the full one for this model (DRY
                and text biases included, see playground.engine.llama.factory).

        Raises:
            PromptTooLong: the prompt does not leave room for one generated token.
            Unsupported: top_k above the vocabulary size.
            DecodeError: llama.cpp failed to decode.
        """
        tokens = list(prompt)
        self._check_fits(len(tokens), reserve=1)
        self._check_top_k(top_k)
        if make_sampler is None:
            make_sampler = self._sampler_factory(turn_start)
        return self._stream(tokens, settings, max_tokens, tuple(stop), top_k, cancel, make_sampler)

    def _check_top_k(self, top_k: int) -> None:
        if top_k > self.capabilities.max_top_k:
            raise Unsupported(
                self.info.name,
                f"a top-{top_k}",
                f"the vocabulary has {self.capabilities.max_top_k} tokens",
            )

    def _sampler_factory(self, turn_start: int | None) -> SamplerFactory:
        return factory_for(self, turn_start)

    def _stream(
        self,
        tokens: list[int],
        settings: SettingsSource,
        max_tokens: int,
        stop: tuple[str, ...],
        top_k: int,
        cancel: CancelCheck | None,
        make_sampler: SamplerFactory,
    ) -> Iterator[StreamItem]:
        with self._lock:
            t_prompt = time.perf_counter()
            reused = self._eval_prompt(tokens)
            prompt_s = time.perf_counter() - t_prompt
            get_settings = settings if callable(settings) else (lambda: settings)
            current = get_settings()
            generated: list[int] = []
            sampler = make_sampler(current, self.vocab, tokens, generated)
            text = IncrementalText()
            vocab = self.vocab
            eog = vocab.eog
            scratch = np.empty(vocab.size, dtype=np.float32)
            max_stop = max((len(s) for s in stop), default=0)
            reason = StopReason.MAX_TOKENS
            final_text: str | None = None
            t0 = time.perf_counter()
            try:
                while len(generated) < max_tokens:
                    if cancel is not None and cancel():
                        reason = StopReason.CANCELLED
                        break
                    wanted = get_settings()
                    if wanted is not current:
                        sampler.close()
                        current = wanted
                        sampler = make_sampler(current, vocab, tokens, generated)
                    logits = self._logits_row(-1)
                    lse = logsumexp(logits, scratch)
                    drawn = sampler.sample(logits, lse)
                    tok = drawn.token
                    sampler.accept(tok)
                    generated.append(tok)
                    is_eog = tok in eog
                    piece = vocab.pieces[tok]
                    added = "" if is_eog else text.push(piece)
                    yield TokenEvent(
                        index=len(generated) - 1,
                        id=tok,
                        piece=piece,
                        kind=vocab.kind(tok),
                        text=added,
                        logprob=float(logits[tok]) - lse,
                        top=self._top(top_k_ids(logits, top_k), logits, lse),
                        prob_after=drawn.prob_after,
                        is_eog=is_eog,
                        trace=drawn.trace,
                    )
                    if is_eog:
                        reason = StopReason.EOG
                        break
                    if max_stop and added:
                        so_far = text.text
                        window = so_far[-(max_stop + len(added)) :]
                        hits = [window.find(s) for s in stop if s in window]
                        if hits:
                            cut = len(so_far) - len(window) + min(hits)
                            final_text = so_far[:cut]
                            reason = StopReason.STOP_STRING
                            break
                    if len(generated) >= max_tokens:
                        break
                    pos = len(tokens) + len(generated) - 1
                    if pos >= self.n_ctx:
                        reason = StopReason.CONTEXT_FULL
                        break
                    self._decode((tok,), pos, lambda _q: True)
            finally:
                sampler.close()
            text.flush()
            yield Finished(
                reason=reason,
                tokens=len(generated),
                elapsed_s=time.perf_counter() - t0,
                text=final_text if final_text is not None else text.text,
                prompt_tokens=len(tokens),
                reused_tokens=reused,
                prompt_eval_s=prompt_s,
            )

    # ------------------------------------------------------------------ scoring

    def score(
        self,
        context: Sequence[int],
        continuation: Sequence[int],
        *,
        top_k: int = 5,
        row_hook: RowHook | None = None,
    ) -> list[ScoredToken]:
        """Teacher-force `continuation` after `context` and score every continuation token.

        One batched decode in chunks (at most SCORE_OUTPUTS_PER_DECODE rows of logits each),
        never a decode per position. Ranks are over the full vocabulary.

        Raises:
            ValueError: empty context (the first token has nothing to be predicted from).
            PromptTooLong: context + continuation exceed the context size.
        """
        ctx_toks = list(context)
        cont = list(continuation)
        if not ctx_toks:
            raise ValueError("score() needs a non-empty context (at least BOS)")
        full = ctx_toks + cont
        self._check_fits(len(full))
        self._check_top_k(top_k)
        if not cont:
            return []
        first_out = len(ctx_toks) - 1
        last_out = len(full) - 2
        results: list[ScoredToken] = []
        scratch = np.empty(self.vocab.size, dtype=np.float32)
        with self._lock:
            pos = self._reuse_prefix(full, first_out)
            self.last_prompt_eval_tokens = len(full) - 1 - pos
            stop_at = last_out + 1  # the last continuation token is never an input
            while pos < stop_at:
                # Grow the chunk up to n_batch tokens or the cap on rows of logits.
                end = pos
                outs = 0
                while end < stop_at and end - pos < self.n_batch:
                    if end >= first_out:
                        if outs == SCORE_OUTPUTS_PER_DECODE:
                            break
                        outs += 1
                    end += 1
                rows = self._decode(full[pos:end], pos, lambda q: q >= first_out)
                for r, q in zip(rows, range(max(pos, first_out), end), strict=True):
                    logits = self._logits_row(r)
                    lse = logsumexp(logits, scratch)
                    target = full[q + 1]
                    if row_hook is not None:
                        row_hook(q - first_out, logits, lse)
                    results.append(
                        ScoredToken(
                            id=target,
                            logprob=float(logits[target]) - lse,
                            rank=rank_of(logits, target),
                            top=self._top(top_k_ids(logits, top_k), logits, lse),
                        )
                    )
                pos = end
        return results

    # ------------------------------------------------------------------ lifetime

    def close(self) -> None:
        """Free the context and the model. Waits for a running generation to release it."""
        if self._closed:
            return
        with self._lock:
            self._closed = True
            self._lc.llama_batch_free(self._batch)
            self._llama.close()

    def __enter__(self) -> LlamaModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
