"""The bad-input matrix, below the screen: every way a user's files, flags and machine can be
wrong, on real parts (real GGUF files through real llama.cpp, the real `playground` command
in a subprocess, real files on disk).

Each case asserts what the user is told (the problem, and the fix) and that nothing was
lost. The cases that need the app's screen are in tests/ui/test_bad_inputs_app.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from playground.config import load_config, model_status
from playground.engine.errors import ModelFileMissing, ModelLoadError, NotAGGUF, PromptTooLong
from playground.engine.llama.model import LlamaModel, LoadOptions
from playground.engine.types import Finished, StopReason, TokenEvent, TokenKind
from playground.sampling.presets import PresetError, load_user_presets
from playground.templates import TemplateError, TemplateProblem, resolve_template
from playground.templates.gguf_check import configured_template_problem, gguf_template_problem
from playground.ui.conversation_store import ConversationFile, read_log, token_record
from playground.ui.replay import replay
from tests import tiny_gguf as tg

BROKEN_TEMPLATE = "{% for %}"


def playground(
    *args: str, config: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "playground"]
    if config is not None:
        cmd += ["--config", str(config)]
    return subprocess.run(
        cmd + list(args),
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def chat_prompt(text: str) -> str:
    return (
        f"<|im_start|>system\n{tg.CHATML_DEFAULT_SYSTEM}<|im_end|>\n"
        f"<|im_start|>user\n{text}<|im_end|>\n<|im_start|>assistant\n"
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, tiny_pair: tg.TinyPair) -> Path:
    """The tiny pair, and every kind of broken model file, next to one models.toml."""
    folder = tmp_path_factory.mktemp("bad")
    (folder / "cut.gguf").write_bytes(Path(tiny_pair.aligned).read_bytes()[:50_000])
    (folder / "text.gguf").write_text("this is a text file, not a model")
    tg.write_tiny_gguf(
        folder / "broken-template.gguf",
        transitions=tg.ALIGNED_TRANSITIONS,
        default_next=tg.ALIGNED_DEFAULT_NEXT,
        seed=2,
        chat_template=BROKEN_TEMPLATE,
        name="tiny-broken-template",
    )
    (folder / "models.toml").write_text(
        textwrap.dedent(
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
            n_ctx = 256

            [models.gone]
            role = "base"
            path = "missing.gguf"

            [models.cut]
            role = "aligned"
            path = "cut.gguf"

            [models.text]
            role = "aligned"
            path = "text.gguf"

            [models.broken-template]
            name = "Tiny aligned, broken template"
            role = "aligned"
            path = "broken-template.gguf"
            n_ctx = 256

            [models.broken-fixed]
            name = "Tiny aligned, broken template, chatml chosen"
            role = "aligned"
            path = "broken-template.gguf"
            template = "chatml"

            [models.no-jinja]
            role = "aligned"
            path = "{tiny_pair.aligned}"
            template = "missing-template.jinja"

            [presets.wild]
            temperature = 0.7
            top_p = 7.5
            """
        )
    )
    return folder


@pytest.fixture(scope="module")
def config_path(files: Path) -> Path:
    return files / "models.toml"


# ---------------------------------------------------------------------------- model files


def test_missing_file_names_the_path_and_the_fix(files: Path) -> None:
    with pytest.raises(ModelFileMissing) as err:
        LlamaModel(files / "missing.gguf")
    assert str(files / "missing.gguf") in str(err.value) and "Fix:" in str(err.value)


def test_not_a_gguf_names_the_first_bytes_and_the_fix(files: Path) -> None:
    with pytest.raises(NotAGGUF) as err:
        LlamaModel(files / "text.gguf")
    assert "b'this'" in str(err.value) and "convert_hf_to_gguf.py" in str(err.value)


def test_truncated_file_names_the_file_and_the_fix(files: Path) -> None:
    with pytest.raises(ModelLoadError) as err:
        LlamaModel(files / "cut.gguf", LoadOptions(n_ctx=64, n_threads=1))
    assert "cut.gguf" in str(err.value) and "truncated" in str(err.value)
    assert "Fix:" in str(err.value)


def test_models_command_gives_every_status_its_fix(config_path: Path) -> None:
    out = playground("models", config=config_path)
    assert out.returncode == 1  # not every model is ready
    text = out.stdout
    assert "status: file missing" in text and "status: not a GGUF" in text
    # a truncated file: the status, and the fix `generate` also gives
    cut = text[text.index("cut  [") :].split("\n\n")[0]
    assert "status: load error" in cut and "Fix:" in cut and "download it again" in cut
    # a missing .jinja is not "ready": it names the file and what would be valid
    no_jinja = text[text.index("no-jinja  [") :]
    no_jinja = no_jinja[: no_jinja.index("broken") if "broken" in no_jinja else None]
    assert "status: template missing" in no_jinja.split("\n")[1]
    assert "missing-template.jinja" in no_jinja


def test_gguf_with_a_broken_template_loads_and_says_what_is_wrong(files: Path) -> None:
    model = LlamaModel(files / "broken-template.gguf", LoadOptions(n_ctx=128, n_threads=1))
    try:
        assert model.info.chat_template == BROKEN_TEMPLATE
        problem = gguf_template_problem(model.info, "chatml")
        assert problem is not None
        assert "broken-template.gguf" in problem  # the file
        assert "line 1" in problem  # the line
        assert 'template = "chatml"' in problem and "models.toml" in problem  # the fix
        # ... and it works with another template: the designed ChatML reply comes out
        prompt = resolve_template("chatml").render(
            [{"role": "user", "content": "hi"}], True, "", ""
        )
        ids = model.tokenize(prompt, special=True, add_bos=True)
        events = [e for e in model.stream(ids, max_tokens=40) if isinstance(e, TokenEvent)]
        assert "".join(e.text for e in events) == tg.ALIGNED_REPLY_TEXT
    finally:
        model.close()


def test_broken_gguf_template_in_every_cli_command(config_path: Path) -> None:
    models = playground("models", config=config_path)
    assert "Traceback" not in models.stderr
    entry = models.stdout[models.stdout.index("broken-template  [") :]
    entry = entry[: entry.index("broken-fixed")]
    assert "status: ready" in entry
    assert "warning:" in entry and "line 1" in entry and 'template = "chatml"' in entry
    # chatml chosen in models.toml: ready, nothing to warn about
    fixed = models.stdout[models.stdout.index("broken-fixed  [") :].split("\n\n")[0]
    assert "status: ready" in fixed and "warning" not in fixed.split("no-jinja")[0]

    gen = playground(
        "generate", "--model", "broken-template", "--prompt", chat_prompt("hi"), config=config_path
    )
    assert gen.returncode == 0, gen.stderr
    assert gen.stdout.strip() == tg.ALIGNED_REPLY_TEXT.strip()

    tok = playground(
        "tokenize", "--tokenizer", "broken-template", "--text", "hi", config=config_path
    )
    assert tok.returncode == 0, tok.stderr
    assert "Traceback" not in tok.stderr
    assert "own chat template fails" in tok.stdout and "line 1" in tok.stdout
    assert "chatml" in tok.stdout.split("\n")[0]  # it fell back to a working template


def test_hostile_template_is_refused_with_its_line() -> None:
    hostile = (
        "{% for m in messages %}{{ m['content'] }}{% endfor %}\n"
        "{{ cycler.__init__.__globals__.os.system('true') }}"
    )
    from playground.templates import JinjaTemplate

    with pytest.raises(TemplateError) as err:
        JinjaTemplate("hostile", hostile).render([{"role": "user", "content": "x"}], True)
    assert err.value.problem is TemplateProblem.SECURITY and err.value.line == 2
    assert "refused" in str(err.value)


def test_missing_jinja_names_the_file(config_path: Path) -> None:
    config = load_config(config_path)
    spec = config.models["no-jinja"]
    assert model_status(spec).status == "ready"  # the weights are fine ...
    problem = configured_template_problem(spec.template, config.source.parent)
    assert problem is not None  # ... the template is not, and says which file and what to do
    assert str(config.source.parent / "missing-template.jinja") in problem
    assert "Check the path" in problem


# ---------------------------------------------------------------------------- prompts


def test_over_long_prompt_says_the_sizes_and_the_fix(tiny_aligned: LlamaModel) -> None:
    ids = tiny_aligned.tokenize("hello " * 400, special=False, add_bos=True)
    assert len(ids) > tiny_aligned.n_ctx
    with pytest.raises(PromptTooLong) as err:
        list(tiny_aligned.stream(ids, max_tokens=4))
    assert f"context holds {tiny_aligned.n_ctx}" in str(err.value)
    assert "n_ctx" in str(err.value) and "Fix:" in str(err.value)


def test_cjk_and_emoji_survive_the_model_and_the_file(
    tiny_aligned: LlamaModel, tmp_path: Path
) -> None:
    text = "日本語のテキスト 👩‍💻 🦙 e\u0301"
    ids = tiny_aligned.tokenize(text, special=False, add_bos=False)
    assert tiny_aligned.detokenize(ids).decode("utf-8") == text
    store = ConversationFile.create(tmp_path)
    store.append("user", text=text, mode="chat")
    store.close()
    assert replay(store.path)["aligned"].turns[0].user == text


# ---------------------------------------------------------------------------- the store


def test_unusable_data_dir_says_where_and_why(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    told: list[str | None] = []
    store = ConversationFile.create(blocker / "conversations")
    store.on_problem = told.append
    store.append("user", text="hello", mode="chat")
    assert store.problem is not None and not store.path.exists()
    assert str(blocker / "conversations") in store.problem  # where
    assert "Not a directory" in store.problem  # why
    assert "PLAYGROUND_DATA_DIR" in store.problem  # the fix
    assert told == [store.problem]  # said once, not per append
    store.append("tokens", side="base", turn=0, tokens=[])
    assert told == [store.problem]
    # the folder becomes usable again: saving resumes and says so
    blocker.unlink()
    store.append("user", text="again", mode="chat")
    assert store.problem is None and told[-1] is None
    assert "again" in store.path.read_text()


def _write_turn(store: ConversationFile, text: str, turn: int) -> None:
    store.append("user", text=text, mode="chat")
    for side in ("base", "aligned"):
        store.append("prompt", side=side, turn=turn, template="chatml", text=text, tokens=[])
        store.append(
            "finish",
            side=side,
            turn=turn,
            reason="eog",
            tokens=0,
            elapsed_s=0.1,
            tok_s=0.0,
            prompt_tokens=3,
            reused_tokens=0,
        )


def test_damaged_file_keeps_every_valid_record_and_counts_the_rest(tmp_path: Path) -> None:
    store = ConversationFile.create(tmp_path)
    _write_turn(store, "first", 0)
    store.close()
    with store.path.open("ab") as fh:
        fh.write(b'{"type": "user", "text": "\xff\xfe not utf-8"}\n')  # invalid UTF-8
        fh.write(b'{"type": "user", "text": 42}\n')  # wrong type
        fh.write(b'[{"type": "clear"}]\n')  # a JSON array, not an object
        fh.write(b'{"type": "finish", "side": "aligned", "turn": "0"}\n')  # wrong types
        fh.write(b'{"type": "tokens", "side": "left", "turn": 0, "tokens": []}\n')  # no side
    store = ConversationFile.open_existing(store.path)
    _write_turn(store, "second", 1)
    store.close()
    rebuilt = replay(store.path)
    assert rebuilt.skipped == 5
    assert [t.user for t in rebuilt["base"].turns] == ["first", "second"]
    assert all(t.reason == "eog" for s in ("base", "aligned") for t in rebuilt[s].turns)


def test_not_a_conversation_at_all(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'[1, 2, 3]\n\xff\xff\n"just a string"\n')
    rebuilt = replay(path)
    assert rebuilt.skipped == 3 and rebuilt["base"].turns == []


def test_torn_last_line_then_append_starts_a_fresh_line(tmp_path: Path) -> None:
    store = ConversationFile.create(tmp_path)
    _write_turn(store, "before the kill", 0)
    store.close()
    with store.path.open("a", encoding="utf-8") as fh:
        fh.write('{"type": "tokens", "side": "base", "tu')  # cut mid-record
    resumed = ConversationFile.open_existing(store.path)
    _write_turn(resumed, "after the resume", 1)
    resumed.close()
    rebuilt = replay(store.path)
    assert [t.user for t in rebuilt["aligned"].turns] == ["before the kill", "after the resume"]
    assert rebuilt.skipped == 1  # only the torn record
    # every line after the torn one is whole JSON: the resumed session lost nothing
    lines = store.path.read_bytes().split(b"\n")
    torn = next(n for n, line in enumerate(lines) if line.startswith(b'{"type": "tokens"'))
    assert all(json.loads(line) for line in lines[torn + 1 :] if line)
    assert read_log(store.path).skipped == 1


WRITER = """
import sys, time
from playground.ui.conversation_store import ConversationFile
store = ConversationFile.open_existing(__import__("pathlib").Path(sys.argv[1]))
store.append("user", text="kill me", mode="chat")
print("ready", flush=True)
n = 0
while True:
    store.append("tokens", side="base", turn=0, tokens=[{"i": n, "pad": "x" * 5000}])
    n += 1
"""


def test_kill_9_mid_write_then_resume(tmp_path: Path) -> None:
    path = tmp_path / "killed.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    while path.stat().st_size < 200_000:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    rebuilt = replay(path)
    assert [t.user for t in rebuilt["base"].turns] == ["kill me"]
    assert rebuilt["base"].turns[0].reason == "cancelled"  # shown as stopped, not lost
    # the next session appends; its record survives the next resume
    store = ConversationFile.open_existing(path)
    store.append("user", text="next session", mode="chat")
    store.close()
    assert [t.user for t in replay(path)["base"].turns] == ["kill me", "next session"]


# ---------------------------------------------------------------------------- sampler values


@pytest.mark.parametrize(
    ("flags", "named", "valid"),
    [
        (["--temperature", "-1"], "--temperature -1.0", ">= 0"),
        (["--temperature", "nan"], "--temperature nan", ">= 0"),
        (["--max-tokens", "0"], "--max-tokens 0", ">= 1"),
        (["--max-tokens", "-5"], "--max-tokens -5", ">= 1"),
        (["--top-p", "7.5"], "--top-p 7.5", "from 0 to 1"),
        (["--seed", "-3"], "--seed -3", "from 0 to 4294967295"),
    ],
)
def test_out_of_range_flags_are_refused_with_the_range(
    config_path: Path, flags: list[str], named: str, valid: str
) -> None:
    out = playground("generate", "--model", "ta", "--prompt", "hi", *flags, config=config_path)
    assert out.returncode == 2
    assert named in out.stderr and "valid:" in out.stderr and valid in out.stderr
    assert "Traceback" not in out.stderr and out.stdout == ""


def test_out_of_range_preset_names_file_line_and_key(config_path: Path) -> None:
    with pytest.raises(PresetError) as err:
        load_user_presets(config_path)
    message = str(err.value)
    line = next(
        n
        for n, text in enumerate(config_path.read_text().splitlines(), 1)
        if text.strip().startswith("top_p")
    )
    assert f"{config_path}:{line}:" in message
    assert "'wild'" in message and "'top_p'" in message and "from 0 to 1" in message
    out = playground(
        "generate", "--model", "ta", "--prompt", "hi", "--preset", "wild", config=config_path
    )
    assert out.returncode == 2 and f"{config_path}:{line}:" in out.stderr


# ---------------------------------------------------------------------------- the machine


def test_unusable_cache_dir_in_tokenize_says_where_and_keeps_going(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    out = playground(
        "tokenize",
        "--tokenizer",
        "o200k_base",
        "--text",
        "hello world",
        env={"PLAYGROUND_CACHE_DIR": str(blocker / "cache")},
    )
    assert out.returncode == 0, out.stderr
    assert "hello" in out.stdout and "tokens ---" in out.stdout
    assert str(blocker / "cache") in out.stderr and "PLAYGROUND_CACHE_DIR" in out.stderr
    assert "Traceback" not in out.stderr


NO_NETWORK = """
import socket, sys
def refuse(*a, **k):
    raise OSError("network is off")
socket.socket.connect = refuse
socket.create_connection = refuse
from playground.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def test_no_network_tiktoken_still_counts(tmp_path: Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            NO_NETWORK,
            "tokenize",
            "--tokenizer",
            "cl100k_base",
            "--text",
            "hello world",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PLAYGROUND_CACHE_DIR": str(tmp_path / "fresh")},
    )
    assert out.returncode == 0, out.stderr
    view = json.loads(out.stdout)
    assert view["tokenizer"].startswith("cl100k_base") and view["count"] > 0


def test_generate_json_into_head_exits_quietly(config_path: Path) -> None:
    cmd = [sys.executable, "-m", "playground", "--config", str(config_path)]
    cmd += ["generate", "--model", "tb", "--prompt", "once", "--json", "-n", "200"]
    writer = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert writer.stdout is not None and writer.stderr is not None
    first = writer.stdout.readline()
    writer.stdout.close()  # what `| head -1` does after its line
    err = writer.stderr.read().decode()
    writer.wait(timeout=120)
    assert json.loads(first)["id"] >= 0
    assert "Traceback" not in err and "BrokenPipeError" not in err
    assert writer.returncode == 141


def test_compare_html_into_an_unwritable_path_says_the_fix_before_generating(
    config_path: Path, tmp_path: Path
) -> None:
    target = tmp_path / "no-such-folder" / "report.html"
    out = playground("compare", "--prompt", "hi", "--html", str(target), config=config_path)
    assert out.returncode == 2
    assert str(target) in out.stderr and "does not exist" in out.stderr
    assert "Fix:" in out.stderr and out.stdout == ""


def test_replay_of_a_finished_reply_keeps_its_tokens(tmp_path: Path) -> None:
    """A sanity anchor for the matrix: a whole turn with tokens comes back exactly."""
    ev = TokenEvent(
        index=0,
        id=5,
        piece="日".encode(),
        kind=TokenKind.NORMAL,
        text="日",
        logprob=-0.5,
        top=(),
        prob_after=0.6,
    )
    store = ConversationFile.create(tmp_path)
    store.append("user", text="q", mode="chat")
    store.append("tokens", side="aligned", turn=0, tokens=[token_record(ev)])
    fin = Finished(StopReason.EOG, 1, 0.1, "日", 3, 0)
    store.append(
        "finish",
        side="aligned",
        turn=0,
        reason=fin.reason.value,
        tokens=1,
        elapsed_s=0.1,
        tok_s=10.0,
        prompt_tokens=3,
        reused_tokens=0,
    )
    store.close()
    turn = replay(store.path)["aligned"].turns[0]
    assert turn.reply_text == "日" and turn.events[0].piece == "日".encode()
