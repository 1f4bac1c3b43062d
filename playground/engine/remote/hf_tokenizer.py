"""A Hugging Face tokenizer folder read as a vocabulary: every token's exact bytes.

vLLM's API gives tokens as text, and a token that ends inside a UTF-8 character comes back
as U+FFFD, so exact bytes need the tokenizer files themselves. They are small (a few MB) and
the same on the client as on the server: `tokenizer.json` (the vocabulary and how its strings
map to bytes), `tokenizer_config.json` (BOS, EOS, whether BOS is added, the chat template)
and `generation_config.json` (the ids that end generation). Only JSON is read: no library.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playground.engine.remote.common import vocab_from_pieces
from playground.engine.types import TokenKind
from playground.engine.vocab import Vocab


def _bytes_to_unicode() -> dict[str, int]:
    """GPT-2's byte-level alphabet, inverted: one printable character per byte."""
    bs = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1)]
    bs += range(ord("®"), ord("ÿ") + 1)
    cs = list(bs)
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs, strict=True)}


_BYTE_DECODER = _bytes_to_unicode()


@dataclass(frozen=True)
class HFTokenizer:
    vocab: Vocab
    chat_template: str | None
    byte_level: bool


def _token_text(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else None


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def _is_byte_level(tok: dict[str, Any]) -> bool:
    text = json.dumps([tok.get("decoder"), tok.get("pre_tokenizer")])
    return '"ByteLevel"' in text


def load_hf_tokenizer(folder: Path, n_vocab: int | None = None) -> HFTokenizer:
    """Read a tokenizer folder (or a tokenizer.json path).

    Args:
        n_vocab: the model's vocabulary size when it is larger than the tokenizer's
            (padding rows get empty pieces).

    Raises:
        FileNotFoundError: no tokenizer.json there.
        ValueError: a tokenizer model this reader does not know (WordPiece, ...).
    """
    folder = Path(folder)
    path = folder if folder.suffix == ".json" else folder / "tokenizer.json"
    base = path.parent
    tok = json.loads(path.read_text(encoding="utf-8"))
    model = tok.get("model") or {}
    kind = model.get("type")
    strings: dict[int, str] = {}
    if kind == "BPE":
        strings = {int(i): s for s, i in model["vocab"].items()}
    elif kind == "Unigram":
        strings = {i: row[0] for i, row in enumerate(model["vocab"])}
    else:
        raise ValueError(f"{path}: tokenizer model {kind!r} is not BPE or Unigram")
    byte_level = _is_byte_level(tok)
    added: dict[int, tuple[str, bool]] = {
        int(a["id"]): (str(a["content"]), bool(a.get("special")))
        for a in tok.get("added_tokens") or []
    }
    size = max([*strings, *added, -1]) + 1
    size = max(size, n_vocab or 0)
    pieces: list[bytes] = [b""] * size
    kinds: dict[int, TokenKind] = {}
    for i, s in strings.items():
        if byte_level:
            pieces[i] = bytes(_BYTE_DECODER.get(ch, 0x3F) for ch in s)
        elif len(s) == 6 and s.startswith("<0x") and s.endswith(">"):
            pieces[i] = bytes([int(s[3:5], 16)])
            kinds[i] = TokenKind.BYTE
        else:
            pieces[i] = s.replace("\u2581", " ").encode("utf-8")
    for i, (content, special) in added.items():
        pieces[i] = content.encode("utf-8")
        kinds[i] = TokenKind.CONTROL if special else TokenKind.USER_DEFINED
    for i in range(size):
        if i not in strings and i not in added:
            kinds[i] = TokenKind.UNUSED
    cfg = _read_json(base / "tokenizer_config.json")
    gen = _read_json(base / "generation_config.json")
    by_text = {c: i for i, (c, _s) in added.items()}

    def id_of(value: Any) -> int | None:
        text = _token_text(value)
        return by_text.get(text) if text is not None else None

    bos, eos = id_of(cfg.get("bos_token")), id_of(cfg.get("eos_token"))
    eog: set[int] = set()
    gen_eos = gen.get("eos_token_id")
    if isinstance(gen_eos, int):
        eog.add(gen_eos)
    elif isinstance(gen_eos, list):
        eog.update(int(t) for t in gen_eos)
    if eos is not None:
        eog.add(eos)
    # Every end-of-turn token the vocabulary has ends generation, as in llama.cpp (a folder
    # converted from GGUF may name only EOS in generation_config.json).
    eot = None
    for text in ("<end_of_turn>", "<|im_end|>", "<|eot_id|>", "<|end|>"):
        if text in by_text:
            eot = by_text[text] if eot is None else eot
            eog.add(by_text[text])
    template = cfg.get("chat_template")
    jinja = base / "chat_template.jinja"
    if not isinstance(template, str) and jinja.is_file():
        template = jinja.read_text(encoding="utf-8")
    vocab = vocab_from_pieces(
        pieces,
        kinds,
        eog=frozenset(eog),
        bos=bos,
        eos=eos,
        eot=eot,
        add_bos=bool(cfg.get("add_bos_token", False)),
    )
    return HFTokenizer(
        vocab=vocab,
        chat_template=template if isinstance(template, str) else None,
        byte_level=byte_level,
    )
