"""The `playground` command's engine subcommands, run as a user would."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests import tiny_gguf as tg
from tests.test_config import tiny_config


def playground(*args: str, env_config: Path | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "playground"]
    if env_config is not None:
        cmd += ["--config", str(env_config)]
    return subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory, tiny_pair) -> Path:  # type: ignore[no-untyped-def]
    return tiny_config(tmp_path_factory.mktemp("cfg"), tiny_pair)


def test_generate_json_lines(config_file: Path) -> None:
    prompt = (
        f"<|im_start|>system\n{tg.CHATML_DEFAULT_SYSTEM}<|im_end|>\n"
        "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    )
    out = playground(
        "generate", "--model", "ta", "--prompt", prompt, "--json", env_config=config_file
    )
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    tokens, summary = lines[:-1], lines[-1]
    assert summary["done"] is True and summary["reason"] == "eog"
    assert summary["tokens"] == len(tokens) == len(tg.ALIGNED_REPLY) + 1
    assert [t["id"] for t in tokens] == [*tg.ALIGNED_REPLY, tg.IM_END]
    # byte-fallback pieces that are not valid UTF-8 alone are shown as <0xNN>
    assert [t["piece"] for t in tokens[5:8]] == ["<0xE6>", "<0x9C>", "<0xAC>"]
    assert tokens[-1]["piece"] == "<|im_end|>" and tokens[-1]["special"] is True
    assert not any(t["special"] for t in tokens[:-1])
    first = tokens[0]
    assert set(first) == {"id", "piece", "special", "logprob", "top"}
    assert first["top"][0] == {
        "id": first["id"],
        "piece": first["piece"],
        "logprob": first["logprob"],
    }
    assert summary["tok_per_s"] > 0


def test_generate_plain_text(config_file: Path) -> None:
    out = playground(
        "generate",
        "--model",
        "tb",
        "--prompt",
        "hello",
        "--max-tokens",
        "6",
        env_config=config_file,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == tg.BASE_CYCLE_TEXT.strip()
    assert "max_tokens: 6 tokens" in out.stderr


def test_generate_prompt_too_long(config_file: Path) -> None:
    out = playground(
        "generate", "--model", "tb", "--prompt", " the cat sat" * 200, env_config=config_file
    )
    assert out.returncode == 2
    assert "context holds 256" in out.stderr and "Fix:" in out.stderr
    assert "Traceback" not in out.stderr


def test_generate_unknown_model(config_file: Path) -> None:
    out = playground("generate", "--model", "zzz", "--prompt", "x", env_config=config_file)
    assert out.returncode == 2 and "no model with id 'zzz'; known ids: ta, tb" in out.stderr


def test_models_lists_statuses(config_file: Path) -> None:
    out = playground("models", env_config=config_file)
    assert out.returncode == 0, out.stderr
    assert f"config: {config_file} (--config)" in out.stdout
    assert out.stdout.count("status: ready") == 2


def test_malformed_config_on_the_command_line(tmp_path: Path) -> None:
    bad = tmp_path / "models.toml"
    bad.write_text("[models.x]\nrole = 'teacher'\npath = 'x.gguf'\n")
    out = playground("models", env_config=bad)
    assert out.returncode == 2
    assert f"{bad}, line 2: role in [models.x] must be" in out.stderr


def test_generate_stop_is_never_printed(config_file: Path) -> None:
    out = playground(
        "generate", "--model", "tb", "--prompt", "hello", "--stop", " sat", env_config=config_file
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "the cat"
    assert "sat" not in out.stdout
    assert out.stderr.startswith("[stop:")


def _prompt_tokens(*flags: str, config: Path) -> int:
    out = playground(
        "generate",
        "--model",
        "ta",
        "--prompt",
        "Why is the sky blue?",
        "--json",
        *flags,
        env_config=config,
    )
    assert out.returncode == 0, out.stderr
    return int(json.loads(out.stdout.splitlines()[-1])["prompt_tokens"])


def test_generate_urial_wraps_the_prompt_in_urials_prompt(config_file: Path) -> None:
    from playground.config import load_config, open_model
    from playground.templates.prompt import PromptSettings, build_prompt

    config = load_config(config_file)
    model = open_model(config.model("ta"))
    try:
        raw = PromptSettings(template="none", user_specials=True)
        expected = len(build_prompt(model, raw, "chat", [], "Why is the sky blue?", urial=True).ids)
        bare = len(model.tokenize("Why is the sky blue?", add_bos=model.vocab.add_bos))
    finally:
        model.close()
    assert expected > 10 * bare
    assert _prompt_tokens(config=config_file) == bare
    assert _prompt_tokens("--urial", config=config_file) == expected
    assert _prompt_tokens("--preset", "urial", config=config_file) == expected
