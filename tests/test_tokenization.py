"""The token view on both demo tokenizers and tiktoken: special tokens both ways, warnings,
visible pieces, and the `playground tokenize` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from playground.cli.main import main
from playground.engine.llama.model import LlamaModel
from playground.templates import (
    LlamaTokenizer,
    both_ways,
    encode_prompt,
    inspect_tokens,
    resolve_template,
    tiktoken_tokenizer,
    visible_piece,
)

CHAT = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi there"},
]


def _joined(view_tokens: tuple[object, ...]) -> bytes:
    return b"".join(t.piece for t in view_tokens)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("fixture", "special_text"),
    [("smollm2", "<|im_start|>"), ("gemma", "<start_of_turn>")],
)
def test_turn_token_is_one_special_token_or_many_plain_pieces(
    request: pytest.FixtureRequest, fixture: str, special_text: str
) -> None:
    model: LlamaModel = request.getfixturevalue(fixture)
    tok = LlamaTokenizer(model)
    text = f"{special_text}user\nHello"
    parsed, plain = both_ways(text, tok)
    # Parsed: the turn marker is a single special token, shown as itself.
    first = parsed.tokens[1] if parsed.add_bos else parsed.tokens[0]
    assert first.special and first.shown == special_text
    assert first.id == model.vocab.ids_of_piece(special_text.encode())[0]
    # As text: several ordinary pieces that spell the marker, none special.
    body = plain.tokens[1:] if plain.add_bos else plain.tokens
    assert not any(t.special for t in body)
    assert plain.count - parsed.count >= 3
    spelled = _joined(body)
    assert spelled == text.encode()


def test_chatml_on_gemma_warns_that_its_tokens_are_missing(gemma: LlamaModel) -> None:
    tok = LlamaTokenizer(gemma)
    chatml = resolve_template("chatml")
    text = chatml.render(CHAT, True, tok.bos_text, tok.eos_text)
    view = inspect_tokens(text, tok, template=chatml)
    missing = [w for w in view.warnings if "not a special token" in w]
    assert len(missing) == 2
    assert "<|im_start|>" in missing[0] and "<|im_end|>" in missing[1]
    assert "Gemma" in missing[0]
    # And it really is plain text there: no special token but the BOS.
    assert [t.id for t in view.tokens if t.special] == [gemma.vocab.bos]


def test_gemma_template_on_gemma_has_no_missing_tokens(gemma: LlamaModel) -> None:
    tok = LlamaTokenizer(gemma)
    template = resolve_template("gemma")
    text = template.render(CHAT, True, tok.bos_text, tok.eos_text)
    view = inspect_tokens(text, tok, template=template, add_bos=False)
    assert view.warnings == ()
    assert sum(t.shown == "<start_of_turn>" and t.special for t in view.tokens) == 2


def test_chatml_on_smollm2_is_clean(smollm2: LlamaModel) -> None:
    tok = LlamaTokenizer(smollm2)
    template = resolve_template("gguf", smollm2.info)
    text = template.render(CHAT, True, tok.bos_text, tok.eos_text)
    view = inspect_tokens(text, tok, template=template)
    assert view.warnings == ()
    assert [t.shown for t in view.tokens if t.special] == ["<|im_start|>", "<|im_end|>"] * 2 + [
        "<|im_start|>"
    ]


def test_double_bos_is_flagged_and_encode_prompt_avoids_it(gemma: LlamaModel) -> None:
    tok = LlamaTokenizer(gemma)
    assert gemma.vocab.add_bos and tok.bos_text == "<bos>"
    template = resolve_template("gemma")  # writes {{ bos_token }} itself, like the HF one
    text = template.render(CHAT, True, tok.bos_text, tok.eos_text)
    view = inspect_tokens(text, tok, template=template)  # the tokenizer adds BOS too
    bos = gemma.vocab.bos
    assert view.ids[:2] == [bos, bos]
    assert any(w.startswith("Double BOS") for w in view.warnings)
    ids = encode_prompt(tok, text)
    assert ids[0] == bos and ids[1] != bos


def test_missing_bos_is_flagged_where_the_model_expects_one(
    gemma: LlamaModel, smollm2: LlamaModel
) -> None:
    text = "User: hi\n\nAssistant:"
    gemma_view = inspect_tokens(text, LlamaTokenizer(gemma), add_bos=False)
    assert gemma_view.ids[0] != gemma.vocab.bos
    assert any(w.startswith("Missing BOS") for w in gemma_view.warnings)
    # With the tokenizer's default, BOS is there and nothing is said.
    assert inspect_tokens(text, LlamaTokenizer(gemma)).warnings == ()
    # SmolLM2 does not ask for BOS, so leaving it out is fine.
    assert not smollm2.vocab.add_bos
    assert inspect_tokens(text, LlamaTokenizer(smollm2), add_bos=False).warnings == ()


def test_byte_tokens_and_whitespace_are_visible(gemma: LlamaModel, smollm2: LlamaModel) -> None:
    text = "a\tb\r\n\U000f0000"  # a private-use character: no piece for it in either vocab
    g = inspect_tokens(text, LlamaTokenizer(gemma), add_bos=False)
    shown = [t.shown for t in g.tokens]
    assert "→" in shown and "↵" in shown
    # SentencePiece byte fallback: 4 byte tokens, one per UTF-8 byte of U+F0000.
    assert shown[-4:] == ["<0xF3>", "<0xB0>", "<0x80>", "<0x80>"]
    assert _joined(g.tokens) == text.encode()
    s = inspect_tokens(text, LlamaTokenizer(smollm2), add_bos=False)
    assert _joined(s.tokens) == text.encode()
    assert "".join(t.shown for t in s.tokens).endswith("<0xF3><0xB0><0x80><0x80>")


def test_tiktoken_both_ways() -> None:
    tok = tiktoken_tokenizer("o200k_base")
    parsed, plain = both_ways("<|im_start|>user<|im_sep|>Hi<|im_end|>", tok)
    assert [t.id for t in parsed.tokens if t.special] == [200264, 200266, 200265]
    assert not any(t.special for t in plain.tokens)
    assert plain.count > parsed.count
    assert _joined(plain.tokens) == b"<|im_start|>user<|im_sep|>Hi<|im_end|>"


def test_chat_tokens_on_cl100k_have_their_ids() -> None:
    tok = tiktoken_tokenizer("cl100k_base")
    for text, expected in (
        ("<|im_start|>", 100264),
        ("<|im_end|>", 100265),
        ("<|im_sep|>", 100266),
    ):
        assert tok.special_id(text) == expected
        assert tok.encode(text, special=True, add_bos=False) == [expected]


@given(st.binary(max_size=12))
def test_visible_piece_shows_every_byte_and_no_raw_whitespace(data: bytes) -> None:
    shown = visible_piece(data)
    assert not any(ch in shown for ch in " \n\t\r\x00\x7f")
    # Byte-token display is exactly one <0xNN> per byte.
    assert visible_piece(data, byte_token=True) == "".join(f"<0x{b:02X}>" for b in data)


# ---------------------------------------------------------------------------- the CLI


def test_cli_json_with_a_gguf_path(
    smollm2_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    messages = tmp_path / "chat.json"
    messages.write_text(json.dumps(CHAT), encoding="utf-8")
    code = main(
        ["tokenize", "--messages", str(messages), "--template", "chatml",
         "--tokenizer", str(smollm2_path), "--json"]
    )  # fmt: skip
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"template", "tokenizer", "text", "count", "tokens", "warnings"}
    assert out["template"] == "chatml"
    assert out["text"].endswith("<|im_start|>assistant\n")
    assert out["count"] == len(out["tokens"])
    assert "".join(t["piece"] for t in out["tokens"]) == out["text"]
    assert [t["piece"] for t in out["tokens"] if t["special"]].count("<|im_start|>") == 3


def test_cli_special_as_text_and_no_generation_prompt(
    smollm2_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["tokenize", "--text", "Hi", "--template", "chatml", "--tokenizer", str(smollm2_path)]
    assert main([*args, "--json"]) == 0
    parsed = json.loads(capsys.readouterr().out)
    assert main([*args, "--json", "--special-as-text", "--no-generation-prompt"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert not any(t["special"] for t in plain["tokens"])
    assert plain["text"] == "<|im_start|>user\nHi<|im_end|>\n"
    assert plain["count"] > parsed["count"]


def test_cli_model_id_uses_the_configured_template_and_says_why(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["tokenize", "--text", "Hi", "--tokenizer", "gemma3-270m"])
    assert code == 0
    out = capsys.readouterr().out
    assert "template: plain" in out
    assert "pre-training" in out  # why models.toml gives the base model this layout
    assert "--- prompt ---" in out
    code = main(["tokenize", "--text", "Hi", "--tokenizer", "gemma3-270m", "--template", "gemma"])
    assert code == 0
    assert "<start_of_turn>  special" in capsys.readouterr().out


def test_cli_tiktoken_gpt4o_count(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["tokenize", "--text", "Hi there", "--tokenizer", "o200k_base", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["template"] == "gpt4o"
    # OpenAI's counting rule: 3 per message + its role and content tokens, + 3 to prime.
    assert out["count"] == 3 + 1 + 2 + 3


def test_cli_errors_are_messages_not_tracebacks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('[{"role": "user"}]', encoding="utf-8")
    assert main(["tokenize", "--messages", str(bad), "--tokenizer", "o200k_base"]) == 2
    assert "entry 0" in capsys.readouterr().err
    assert main(["tokenize", "--text", "x", "--tokenizer", "o200k_base", "--template", "gguf"]) == 2
    assert "needs a model" in capsys.readouterr().err
    evil = tmp_path / "evil.jinja"
    evil.write_text("{{ ''.__class__.__mro__[1].__subclasses__() }}", encoding="utf-8")
    args = ["tokenize", "--text", "x", "--tokenizer", "cl100k_base", "--template", str(evil)]
    assert main(args) == 2
    assert "refused by the sandbox" in capsys.readouterr().err


def test_cli_templates_lists_every_template(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["templates"]) == 0
    out = capsys.readouterr().out
    for name in ("gguf", "chatml", "llama3", "gemma", "mistral", "alpaca", "plain", "gpt4o"):
        assert f"\n{name} " in f"\n{out}"
    assert "urial-plain" in out and "none" in out
