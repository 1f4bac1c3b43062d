"""`playground lesson` as a user runs it: the list, one lesson as JSON in either language,
the templates from models.toml, and clear messages for a wrong name or language."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests import tiny_gguf as tg
from tests.test_cli import playground


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory, tiny_pair) -> Path:  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("lesson-cfg")
    path = folder / "models.toml"
    path.write_text(
        f"""[pair]
base = "tb"
aligned = "ta"

[models.tb]
name = "Tiny base"
role = "base"
path = "{tiny_pair.base}"
n_ctx = 512
template = "plain"

[models.ta]
name = "Tiny aligned"
role = "aligned"
path = "{tiny_pair.aligned}"
n_ctx = 512
template = "chatml"
""",
        encoding="utf-8",
    )
    return path


def test_list_names_every_lesson_in_the_chosen_language() -> None:
    out = playground("lesson", "--json", "--lang", "zh")
    assert out.returncode == 0, out.stderr
    listed = json.loads(out.stdout)
    assert listed["lang"] == "zh"
    assert [x["name"] for x in listed["lessons"]] == [
        "sequence",
        "document",
        "tricks",
        "shift",
        "nudging",
        "sampling",
    ]
    assert listed["lessons"][1]["title"] == "基座模型是文档模拟器"
    text = playground("lesson", "--lang", "en")
    assert "2  document" in text.stdout and "Run one: playground lesson NAME" in text.stdout


def test_lesson_runs_on_the_pair_with_its_models_toml_templates(config_file: Path) -> None:
    out = playground(
        "lesson",
        "document",
        "--json",
        "--lang",
        "zh",
        "--questions",
        "1",
        "--max-tokens",
        str(len(tg.ALIGNED_REPLY) + 1),
        env_config=config_file,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["lang"] == "zh" and result["title"] == "基座模型是文档模拟器"
    setup = dict(result["setup"])
    assert setup["base template"] == "plain" and setup["aligned template"] == "chatml"
    # The names the user gave in models.toml, as the app's panes show them.
    assert result["models"] == ["Tiny base", "Tiny aligned"]
    assert result["data"]["stopped"] == {"base": 0, "aligned": 1}
    assert result["data"]["replies"][1]["text"] == tg.ALIGNED_REPLY_TEXT
    assert "[1/2]" in out.stderr and "[2/2]" in out.stderr  # progress goes to stderr


def test_lesson_text_and_html(config_file: Path, tmp_path: Path) -> None:
    page = tmp_path / "lesson.html"
    out = playground(
        "lesson", "2", "--lang", "en", "--questions", "1", "--max-tokens", "16",
        "--html", str(page), env_config=config_file,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "Lesson 2: The base model is a document simulator" in out.stdout
    assert "Stops on its own" in out.stdout and "█" in out.stdout
    html = page.read_text(encoding="utf-8")
    assert 'id="lesson-document"' in html and "Stops on its own" in html


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("lesson", "nope"), "no lesson 'nope'; valid: 1 sequence, 2 document"),
        (("lesson", "--lang", "fr"), "unknown language 'fr'; valid: en, zh"),
        (("lesson", "document", "--questions", "0"), "--questions must be at least 1"),
    ],
)
def test_bad_input_names_the_problem(
    config_file: Path, args: tuple[str, ...], message: str
) -> None:
    out = playground(*args, env_config=config_file)
    assert out.returncode == 2
    assert message in out.stderr
