"""What a backend cannot do is greyed out with its reason, never silently ignored.

The base side runs behind a server's limits (tests/server_like.py: a real model, no logit
tricks, no live changes, top 20 only, no trace); the aligned side is in-process.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.text import Text
from textual.widgets import Input, Label, Select, Static, Switch

from playground.config import Config
from playground.engine.llama import LlamaModel
from playground.session.records import view_from_record, view_record
from playground.session.turns import OtherView
from playground.ui.app import PlaygroundApp
from playground.ui.screens.models import capability_lines
from playground.ui.widgets.inspector import describe_trace
from tests.server_like import REASONS, ServerLike
from tests.ui.conftest import SIZE, models_loaded, turn_done, wait_until
from tests.ui.test_app import send


def plain(text: Text | str) -> str:
    console = Console(width=300, record=True, color_system=None)
    console.print(text)
    return console.export_text()


async def test_the_sampling_panel_greys_out_what_the_backend_cannot_do(
    tiny_config: Config, data_dir: Path
) -> None:
    app = PlaygroundApp(tiny_config, max_tokens=12)
    async with app.run_test(size=SIZE) as pilot:
        await models_loaded(pilot)
        inner = app.models["base"]
        assert isinstance(inner, LlamaModel)
        app.models["base"] = ServerLike(inner)  # type: ignore[assignment]
        await pilot.press("f4")
        await pilot.pause()
        screen = app.screen
        # the tricks: greyed on the server-like side with the reason, live on the other
        for name in ("ban_eos", "token_style", "eos_bias"):
            assert screen.query_one(f"#base--{name}").disabled, name
            assert not screen.query_one(f"#aligned--{name}").disabled, name
            why = screen.query_one(f"#base--{name}--why-not", Label)
            assert REASONS["logit_tricks"] in plain(why.content)
            assert not screen.query(f"#aligned--{name}--why-not")
        # what it can do stays editable
        assert not screen.query_one("#base--temperature", Input).disabled
        assert not screen.query_one("#base--top_k", Input).disabled
        applies = plain(screen.query_one("#applies-base", Label).content)
        assert "from the next reply" in applies and REASONS["live_sampler_changes"] in applies
        assert "live, from the next token" in plain(
            screen.query_one("#applies-aligned", Label).content
        )
        # a preset with tricks: applied without them on the server-like side, and said so
        screen.query_one("#preset-base", Select).value = "adapter"
        screen.query_one("#preset-aligned", Select).value = "adapter"
        await pilot.pause()
        base, aligned = app.settings["base"], app.settings["aligned"]
        assert base.token_style == 0.0 and base.diversity == 0.0 and base.eos_ramp == 0.0
        assert aligned.token_style == 1.0 and aligned.diversity > 0.0
        warnings = [n.message for n in app._notifications]
        assert any("base: preset adapter without" in m and "token_style" in m for m in warnings)
        assert screen.query_one("#base--token_style", Input).value == "0.0"
        assert screen.query_one("#aligned--token_style", Input).value == "1.0"
        assert screen.query_one("#base--ban_eos", Switch).value is False
        await pilot.press("escape")
        # the reply runs with the settings it started with, and nothing raises
        await send(pilot, "Hello")
        await turn_done(pilot)
        last = app.transcripts["base"].last
        assert last is not None and last.reason == "max_tokens" and len(last.events) == 12
        assert all(e.trace is None for e in last.events)


async def test_the_models_panel_lists_capabilities_with_reasons(
    tiny_config: Config, data_dir: Path
) -> None:
    app = PlaygroundApp(tiny_config)
    async with app.run_test(size=(140, 50)) as pilot:
        await models_loaded(pilot)
        inner = app.models["base"]
        assert isinstance(inner, LlamaModel)
        app.models["base"] = ServerLike(inner)  # type: ignore[assignment]
        await pilot.press("f5")
        await wait_until(
            pilot, lambda: "runs" in plain(app.screen.query_one("#status-base", Static).content)
        )
        base = plain(app.screen.query_one("#status-base", Static).content)
        aligned = plain(app.screen.query_one("#status-aligned", Static).content)
        assert "runs in-process, server-like (tests)" in base
        assert f"✗ live sampler changes: {REASONS['live_sampler_changes']}" in base
        assert "✓ scoring a given text" in base and "top-k up to 20" in base
        assert "runs in-process (llama.cpp)" in aligned and "✗" not in aligned


def test_capability_lines_grey_what_is_missing(tiny_aligned: LlamaModel) -> None:
    lines = capability_lines(ServerLike(tiny_aligned).capabilities).splitlines()
    missing = [line for line in lines if "✗" in line]
    assert len(missing) == len(REASONS)
    assert all(line.strip().startswith("[dim]") for line in missing)
    assert all("✓" in line for line in capability_lines(tiny_aligned.capabilities).splitlines())


def test_the_inspector_says_why_there_is_no_trace(tiny_aligned: LlamaModel) -> None:
    server = ServerLike(tiny_aligned)
    text = plain(describe_trace(None, tiny_aligned.vocab, server.capabilities))
    assert f"not recorded on this backend: {REASONS['sampler_trace']}" in text
    # in-process, a missing trace is just missing (a loaded conversation, say)
    assert "no trace recorded" in plain(describe_trace(None, None, tiny_aligned.capabilities))


def test_a_rank_beyond_the_top_k_reads_back_as_a_bound() -> None:
    view = OtherView(rank=21, logprob=-9.0, top=((b"a", -0.1),), shift_class="shifted")
    bound = OtherView(
        rank=21, logprob=-9.0, top=((b"a", -0.1),), shift_class="shifted", rank_exact=False
    )
    assert view.rank_text == "21" and bound.rank_text == ">20"
    for v in (view, bound):
        back = view_from_record(view_record(v))
        assert back is not None
        assert (back.rank, back.rank_exact, back.rank_text) == (v.rank, v.rank_exact, v.rank_text)
