"""Builder for a tiny, deterministic pair of real GGUF models for the test suite.

Why this exists: the app compares a *base* and an *aligned* GGUF model through
llama-cpp-python.  Real checkpoints are hundreds of MB, slow to load and their outputs
are not something a test can predict.  This module writes two ~2 MB float32 ``llama``
models that real llama.cpp loads and runs in milliseconds, and whose greedy behaviour is
designed by hand:

* both share ONE SentencePiece-style vocabulary (control tokens, a user-defined token, all
  256 byte-fallback tokens, printable ASCII, a few whole words, a >32-byte piece, a CJK
  piece), exposed below as named constants so tests never use magic numbers;
* the weights form a "Markov" model: embeddings are one-hot and the output matrix maps
  the CURRENT token ``t`` to a large logit for ``transitions[t]``; seeded noise on the other
  logits makes probabilities / top-k non-trivial, and small seeded attention/FFN weights
  let the context nudge the logits a little (so KV-cache reuse bugs are observable)
  without ever changing the designed argmax;
* the aligned model carries a ChatML chat template and, after ``<|im_start|>assistant\\n``,
  greedily replies :data:`ALIGNED_REPLY_TEXT` then ``<|im_end|>`` (end of generation);
* the base model has no template and rambles :data:`BASE_CYCLE_TEXT` forever, from any
  prompt, never emitting an end-of-generation token.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from gguf import GGUFWriter, LlamaFileType, TokenType

__all__ = [
    "ALIGNED_DEFAULT_NEXT",
    "ALIGNED_REPLY",
    "ALIGNED_REPLY_TEXT",
    "ALIGNED_TRANSITIONS",
    "ASSISTANT",
    "ASSISTANT_LOWER",
    "BASE_CYCLE",
    "BASE_CYCLE_TEXT",
    "BASE_TRANSITIONS",
    "BOS",
    "BYTE_TOKEN_OFFSET",
    "CHATML_DEFAULT_SYSTEM",
    "CHATML_TEMPLATE",
    "CJK_PIECE",
    "CJK_PIECE_TEXT",
    "CONTEXT_LENGTH",
    "DESIGNED_LOGIT",
    "END_OF_TURN",
    "EOS",
    "FEED_FORWARD_LENGTH",
    "HEAD_COUNT",
    "HEAD_COUNT_KV",
    "HEAD_DIM",
    "IM_END",
    "IM_START",
    "LONG_CONTROL",
    "LONG_CONTROL_TEXT",
    "LONG_PIECE",
    "LONG_PIECE_TEXT",
    "MIX_SCALE",
    "NEWLINE",
    "NOISE_CLIP",
    "NOISE_STD",
    "N_EMBD",
    "RMS_EPS",
    "SPACE",
    "SPACE_CHAR",
    "START_OF_TURN",
    "TOKENS",
    "TOKEN_ID",
    "TOKEN_SCORES",
    "TOKEN_TYPES",
    "TOOL",
    "TinyPair",
    "UNK",
    "USER",
    "USER_LOWER",
    "VOCAB_SIZE",
    "build_tiny_pair",
    "byte_token",
    "pieces_to_ids",
    "token_id",
    "write_tiny_gguf",
]

# --------------------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------------------

SPACE_CHAR = "\u2581"  # SentencePiece's "▁" meta-symbol: llama.cpp escapes " " to it.

LONG_CONTROL_TEXT = "<|a_very_long_control_token_for_tests|>"  # 39 bytes: > 32-byte buffers
LONG_PIECE_TEXT = SPACE_CHAR + "supercalifragilisticexpialidocious_and_more"  # 46 UTF-8 bytes
CJK_PIECE_TEXT = "日"  # in the vocab; "本" and "🙂" deliberately are NOT (byte fallback)

# (text, type) for the special tokens, in id order.  Ids 0..2 follow the Llama-2 layout.
_SPECIALS: tuple[tuple[str, TokenType], ...] = (
    ("<unk>", TokenType.UNKNOWN),
    ("<s>", TokenType.CONTROL),
    ("</s>", TokenType.CONTROL),
    ("<|im_start|>", TokenType.CONTROL),
    ("<|im_end|>", TokenType.CONTROL),
    ("<start_of_turn>", TokenType.CONTROL),
    ("<end_of_turn>", TokenType.CONTROL),
    ("<tool>", TokenType.USER_DEFINED),
    (LONG_CONTROL_TEXT, TokenType.CONTROL),
)

# Whole-word pieces.  Words used right after a special token / newline appear without
# "▁" because the vocab disables the SPM space prefix (like Gemma).
_WORDS: tuple[str, ...] = (
    "Hello",
    "hello",
    "world",
    "User",
    "Assistant",
    "user",
    "assistant",
    "system",
    "model",
    SPACE_CHAR + "hello",
    SPACE_CHAR + "world",
    SPACE_CHAR + "the",
    SPACE_CHAR + "cat",
    SPACE_CHAR + "sat",
    SPACE_CHAR + "on",
    SPACE_CHAR + "a",
    SPACE_CHAR + "mat",
    LONG_PIECE_TEXT,
)


def _build_vocab() -> tuple[list[str], list[float], list[TokenType]]:
    tokens: list[str] = []
    scores: list[float] = []
    types: list[TokenType] = []

    def add(text: str, score: float, kind: TokenType) -> None:
        if text in tokens:  # prefix chains overlap ("▁s" of "▁sat" and "▁super..."), dedupe
            return
        tokens.append(text)
        scores.append(score)
        types.append(kind)

    for text, kind in _SPECIALS:
        add(text, 0.0, kind)
    for byte in range(256):
        add(f"<0x{byte:02X}>", 0.0, TokenType.BYTE)
    # Single characters: merges in llama.cpp's SPM tokenizer start from these.
    add(SPACE_CHAR, 1.0, TokenType.NORMAL)
    add("\n", 1.0, TokenType.NORMAL)
    for code in range(0x21, 0x7F):
        add(chr(code), 1.0, TokenType.NORMAL)
    add(CJK_PIECE_TEXT, 1.0, TokenType.NORMAL)
    # SPM only merges two adjacent symbols whose concatenation is itself a piece, so every
    # prefix of a word must exist; longer pieces score higher so whole words win.
    for word in _WORDS:
        for end in range(2, len(word) + 1):
            add(word[:end], float(end), TokenType.NORMAL)
    return tokens, scores, types


_tokens, _scores, _types = _build_vocab()
TOKENS: tuple[str, ...] = tuple(_tokens)
TOKEN_SCORES: tuple[float, ...] = tuple(_scores)
TOKEN_TYPES: tuple[TokenType, ...] = tuple(_types)
TOKEN_ID: Mapping[str, int] = {text: i for i, text in enumerate(TOKENS)}
VOCAB_SIZE = len(TOKENS)


def token_id(text: str) -> int:
    """Id of the vocabulary piece ``text`` (SentencePiece form, i.e. with "▁" for space)."""
    return TOKEN_ID[text]


BYTE_TOKEN_OFFSET = token_id("<0x00>")


def byte_token(value: int) -> int:
    """Id of the byte-fallback token ``<0xNN>`` for one byte ``value``."""
    if not 0 <= value <= 0xFF:
        raise ValueError(f"not a byte: {value}")
    return BYTE_TOKEN_OFFSET + value


UNK = token_id("<unk>")
BOS = token_id("<s>")
EOS = token_id("</s>")
IM_START = token_id("<|im_start|>")
IM_END = token_id("<|im_end|>")
START_OF_TURN = token_id("<start_of_turn>")
END_OF_TURN = token_id("<end_of_turn>")
TOOL = token_id("<tool>")
LONG_CONTROL = token_id(LONG_CONTROL_TEXT)
LONG_PIECE = token_id(LONG_PIECE_TEXT)
CJK_PIECE = token_id(CJK_PIECE_TEXT)
SPACE = token_id(SPACE_CHAR)
NEWLINE = token_id("\n")
USER = token_id("User")
ASSISTANT = token_id("Assistant")
USER_LOWER = token_id("user")
ASSISTANT_LOWER = token_id("assistant")


def pieces_to_ids(pieces: Sequence[str]) -> tuple[int, ...]:
    """Ids for a sequence of pieces; a piece not in the vocab becomes its UTF-8 bytes."""
    ids: list[int] = []
    for piece in pieces:
        if piece in TOKEN_ID:
            ids.append(TOKEN_ID[piece])
        else:  # what llama.cpp's byte fallback produces
            ids.extend(byte_token(b) for b in piece.encode("utf-8"))
    return tuple(ids)


# --------------------------------------------------------------------------------------
# Designed behaviour
# --------------------------------------------------------------------------------------

# The aligned reply, as SentencePiece pieces.  "本" and "🙂" are not in the vocab so they
# become 3 and 4 byte tokens.  Every token is distinct: a current-token-only model that
# revisited one would loop.
_ALIGNED_REPLY_PIECES: tuple[str, ...] = (
    "Hello",
    SPACE_CHAR + "world",
    "!",
    SPACE_CHAR,
    CJK_PIECE_TEXT,
    "本",
    "🙂",
    LONG_PIECE_TEXT,
)
ALIGNED_REPLY: tuple[int, ...] = pieces_to_ids(_ALIGNED_REPLY_PIECES)
"""Token ids the aligned model greedily emits after the ChatML generation prompt (before
the final :data:`IM_END`)."""
ALIGNED_REPLY_TEXT = "".join(_ALIGNED_REPLY_PIECES).replace(SPACE_CHAR, " ")
"""``"Hello world! 日本🙂 supercalifragilisticexpialidocious_and_more"``."""

# A current-token-only model loops if a reply token repeats; fail at import, not in a test.
if len({NEWLINE, *ALIGNED_REPLY, IM_END}) != len(ALIGNED_REPLY) + 2:
    raise AssertionError("aligned reply tokens must be distinct (and not \\n or <|im_end|>)")

# The ChatML generation prompt ends with "assistant\n", so the reply starts from "\n".
ALIGNED_DEFAULT_NEXT = IM_END  # any other (off-template) context: stop immediately
ALIGNED_TRANSITIONS: Mapping[int, int] = dict(
    zip((NEWLINE, *ALIGNED_REPLY), (*ALIGNED_REPLY, IM_END), strict=True)
)

_BASE_CYCLE_PIECES: tuple[str, ...] = tuple(
    SPACE_CHAR + w for w in ("the", "cat", "sat", "on", "a", "mat")
)
BASE_CYCLE: tuple[int, ...] = pieces_to_ids(_BASE_CYCLE_PIECES)
"""One lap of the base model's endless ramble; it enters at ``BASE_CYCLE[0]`` from any
token outside the cycle."""
BASE_CYCLE_TEXT = "".join(_BASE_CYCLE_PIECES).replace(SPACE_CHAR, " ")
"""``" the cat sat on a mat"``."""
BASE_TRANSITIONS: Mapping[int, int] = {
    **{t: BASE_CYCLE[0] for t in range(VOCAB_SIZE)},
    **dict(zip(BASE_CYCLE, (*BASE_CYCLE[1:], BASE_CYCLE[0]), strict=True)),
}

CHATML_DEFAULT_SYSTEM = "You are a helpful assistant."
# SmolLM2's template shape (default system prompt when none is given), shorter system text.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\n" + CHATML_DEFAULT_SYSTEM + "<|im_end|>\n' }}"
    "{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# --------------------------------------------------------------------------------------
# Weights
# --------------------------------------------------------------------------------------

CONTEXT_LENGTH = 512
HEAD_COUNT = 2
HEAD_COUNT_KV = 1  # grouped-query attention, like most modern models
HEAD_DIM = 16  # decoupled from n_embd via key/value_length: keeps attention tensors tiny
FEED_FORWARD_LENGTH = 32
RMS_EPS = 1e-5
# Hidden dims: one per token (one-hot embeddings) plus >= 16 spare "context" dims, rounded
# up to a multiple of 32 (hence of the head count).  Attention and FFN write ONLY into
# the context dims: if they wrote into token dims, every token sharing a transition
# target would add its perturbation coherently to that target's logit (we hit this:
# with the aligned model's "everything -> <|im_end|>" default it swung logits by +-5).
N_CONTEXT_DIMS_MIN = 16
N_EMBD = -(-(VOCAB_SIZE + N_CONTEXT_DIMS_MIN) // 32) * 32

DESIGNED_LOGIT = 8.0  # logit of transitions[t] given current token t
NOISE_STD = 1.0  # std of the other logits: p(designed) ~ 0.8, top-k non-trivial
NOISE_CLIP = 3.0  # |noise| <= 3 so the static margin is >= 5 logits
# Per-dim std of the attention/FFN residual in the context dims (embedding value is 1):
# context then moves logits by a few tenths, far below the margin, far above float noise.
MIX_SCALE = 0.05
MIN_STATIC_MARGIN = 4.0

Array = npt.NDArray[np.float32]


def _f32(a: npt.ArrayLike) -> Array:
    return np.ascontiguousarray(a, dtype=np.float32)


def _tensors(
    transitions: Mapping[int, int], default_next: int | None, seed: int, n_layers: int
) -> dict[str, Array]:
    rng = np.random.default_rng(seed)
    n, v = N_EMBD, VOCAB_SIZE
    q_dim, kv_dim = HEAD_COUNT * HEAD_DIM, HEAD_COUNT_KV * HEAD_DIM
    # Norm weights that turn rms_norm(one-hot) (= sqrt(n) at t) back into a unit one-hot.
    unit = np.full(n, 1.0 / math.sqrt(n))

    def to_context_dims(std: float, cols: int) -> Array:
        w = np.zeros((n, cols))
        w[v:] = rng.normal(0.0, std, (n - v, cols))
        return _f32(w)

    out: dict[str, Array] = {}
    # numpy shape is (rows, cols) = reversed ggml ne; token_embd is (n_vocab, n_embd).
    out["token_embd.weight"] = _f32(np.eye(v, n))
    for i in range(n_layers):
        p = f"blk.{i}."
        out[p + "attn_norm.weight"] = _f32(unit)
        # Random q/k so attention weights depend on content and (via RoPE) position.
        out[p + "attn_q.weight"] = _f32(rng.normal(0.0, 1.0, (q_dim, n)))
        out[p + "attn_k.weight"] = _f32(rng.normal(0.0, 1.0, (kv_dim, n)))
        out[p + "attn_v.weight"] = _f32(rng.normal(0.0, 1.0, (kv_dim, n)))
        out[p + "attn_output.weight"] = to_context_dims(MIX_SCALE / math.sqrt(q_dim), q_dim)
        out[p + "ffn_norm.weight"] = _f32(unit)
        out[p + "ffn_gate.weight"] = _f32(rng.normal(0.0, 1.0, (FEED_FORWARD_LENGTH, n)))
        out[p + "ffn_up.weight"] = _f32(rng.normal(0.0, 1.0, (FEED_FORWARD_LENGTH, n)))
        out[p + "ffn_down.weight"] = to_context_dims(
            MIX_SCALE / math.sqrt(FEED_FORWARD_LENGTH), FEED_FORWARD_LENGTH
        )
    out["output_norm.weight"] = _f32(unit)

    # output[j, t]: logit of next token j when the normalised hidden state is one-hot t;
    # output[j, c] for context dims c turns the small context residual into small shifts.
    output = np.clip(rng.normal(0.0, NOISE_STD, (v, n)), -NOISE_CLIP, NOISE_CLIP)
    for t in range(v):
        nxt = transitions.get(t, default_next)
        if nxt is not None:
            output[nxt, t] = DESIGNED_LOGIT
    out["output.weight"] = _f32(output)
    return out


def _check_margins(output: Array, transitions: Mapping[int, int], default_next: int | None) -> None:
    """Fail loudly if noise could ever compete with a designed transition."""
    for t in range(VOCAB_SIZE):
        nxt = transitions.get(t, default_next)
        if nxt is None:
            continue
        col = output[:VOCAB_SIZE, t].copy()
        designed = float(col[nxt])
        col[nxt] = -np.inf
        if designed - float(col.max()) < MIN_STATIC_MARGIN:
            raise AssertionError(f"margin too small for transition {t} -> {nxt}")


def write_tiny_gguf(
    path: Path,
    *,
    transitions: Mapping[int, int],
    seed: int,
    chat_template: str | None,
    name: str,
    default_next: int | None = None,
    n_layers: int = 1,
) -> Path:
    """Write a tiny Markov ``llama`` GGUF over the shared vocabulary and return ``path``.

    The greedy next token after current token ``t`` is ``transitions[t]``, or
    ``default_next`` for tokens not in ``transitions`` (if None, such tokens get only
    noise logits).  ``seed`` drives every random weight, so the file is byte-identical
    for identical arguments.
    """
    for src, dst in transitions.items():
        if not (0 <= src < VOCAB_SIZE and 0 <= dst < VOCAB_SIZE):
            raise ValueError(f"transition {src} -> {dst} outside vocab of {VOCAB_SIZE}")
    if default_next is not None and not 0 <= default_next < VOCAB_SIZE:
        raise ValueError(f"default_next {default_next} outside vocab")
    if n_layers < 1:
        raise ValueError("n_layers must be >= 1")

    tensors = _tensors(transitions, default_next, seed, n_layers)
    _check_margins(tensors["output.weight"], transitions, default_next)

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = GGUFWriter(path, "llama")
    writer.add_name(name)
    writer.add_file_type(LlamaFileType.ALL_F32)
    writer.add_context_length(CONTEXT_LENGTH)
    writer.add_embedding_length(N_EMBD)
    writer.add_block_count(n_layers)
    writer.add_feed_forward_length(FEED_FORWARD_LENGTH)
    writer.add_head_count(HEAD_COUNT)
    writer.add_head_count_kv(HEAD_COUNT_KV)
    writer.add_key_length(HEAD_DIM)
    writer.add_value_length(HEAD_DIM)
    writer.add_rope_dimension_count(HEAD_DIM)  # llama.cpp requires n_rot == head dim
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(RMS_EPS)
    writer.add_vocab_size(VOCAB_SIZE)

    writer.add_tokenizer_model("llama")  # SentencePiece (SPM) tokenizer in llama.cpp
    writer.add_token_list(list(TOKENS))
    writer.add_token_scores(list(TOKEN_SCORES))
    writer.add_token_types(list(TOKEN_TYPES))
    writer.add_unk_token_id(UNK)
    writer.add_bos_token_id(BOS)
    writer.add_eos_token_id(EOS)
    writer.add_eot_token_id(IM_END)
    writer.add_pad_token_id(UNK)
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    # No implicit leading "▁" (Gemma-style): ChatML text after special tokens stays clean.
    writer.add_add_space_prefix(False)
    if chat_template is not None:
        writer.add_chat_template(chat_template)

    for tensor_name, array in tensors.items():
        writer.add_tensor(tensor_name, array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@dataclass(frozen=True)
class TinyPair:
    """Paths of the two models written by :func:`build_tiny_pair`."""

    base: Path
    aligned: Path


def build_tiny_pair(directory: Path) -> TinyPair:
    """Write ``tiny-base.gguf`` and ``tiny-aligned.gguf`` into ``directory``."""
    directory = Path(directory)
    base = write_tiny_gguf(
        directory / "tiny-base.gguf",
        transitions=BASE_TRANSITIONS,
        seed=1,
        chat_template=None,
        name="tiny-base",
    )
    aligned = write_tiny_gguf(
        directory / "tiny-aligned.gguf",
        transitions=ALIGNED_TRANSITIONS,
        default_next=ALIGNED_DEFAULT_NEXT,
        seed=2,
        chat_template=CHATML_TEMPLATE,
        name="tiny-aligned",
    )
    return TinyPair(base=base, aligned=aligned)
