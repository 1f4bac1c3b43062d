"""The Sampling panel reaches the streams, the inspector shows the sampler's trace, the HTML
export writes the analysis module's report, and byte tokens read as <0xNN> everywhere.

Expected behaviour comes from the tiny models' design (tests/tiny_gguf.py): the aligned
model answers ALIGNED_REPLY then <|im_end|>, and from any off-script token it wants
<|im_end|> again; the base model rambles BASE_CYCLE forever.
"""

from __future__ import annotations

import html
import re
import time
from pathlib import Path

from rich.console import Console
from textual.app import App, ComposeResult
from textual.widgets import Switch

from playground.config import Config
from playground.engine.llama.model import LlamaModel
from playground.engine.settings import SamplerSettings
from playground.engine.types import TokenEvent, TokenKind, TopEntry
from playground.engine.utf8 import hex_escape
from playground.session.turns import OtherView
from playground.ui.app import PlaygroundApp
from playground.ui.widgets.inspector import TokenInspector, piece_label
from tests.tiny_gguf import (
    ALIGNED_REPLY,
    ALIGNED_REPLY_TEXT,
    BASE_CYCLE_TEXT,
    BYTE_TOKEN_OFFSET,
    IM_END,
)
from tests.ui.conftest import SIZE, models_loaded, turn_done, wait_until
from tests.ui.test_app import send


def inspector_text(app: App[int]) -> str:
    console = Console(width=200, record=True, color_system=None)
    console.print(app.query_one(TokenInspector).content)
    return console.export_text()


async def test_ban_eos_from_the_panel_keeps_the_aligned_model_going(
    tiny_config: Config, data_dir: Path
) -> None:
    app = PlaygroundApp(tiny_config, max_tokens=len(ALIGNED_REPLY) + 6)
    async with app.run_test(size=SIZE) as pilot:
        await models_loaded(pilot)
        await pilot.press("f4")
        await pilot.pause()
        app.screen.query_one("#aligned--ban_eos", Switch).value = True
        await pilot.pause()
        await pilot.press("escape")
        assert app.settings["aligned"].ban_eos and not app.settings["base"].ban_eos
        await send(pilot, "Hello")
        await turn_done(pilot)
        aligned = app.transcripts["aligned"].last
        assert aligned is not None
        # without the ban it stops at <|im_end|> after ALIGNED_REPLY (test_app checks that)
        assert [e.id for e in aligned.events[: len(ALIGNED_REPLY)]] == list(ALIGNED_REPLY)
        assert aligned.reason == "max_tokens"
        assert IM_END not in [e.id for e in aligned.events]
        assert aligned.reply_text.startswith(ALIGNED_REPLY_TEXT)
        # the token drawn where <|im_end|> would have been: the inspector names the ban
        await wait_until(pilot, lambda: len(aligned.other) == len(aligned.events))
        pane = app.pane("aligned")
        pane.focus()
        pane.select(len(ALIGNED_REPLY))
        await pilot.pause()
        shown = inspector_text(app)
        assert f"token #{len(ALIGNED_REPLY)}" in shown
        assert "ban_eos=True" in shown
        assert "ban eos" in shown and "-inf" in shown
        assert "every end-of-generation token -inf" in shown
        # with <|im_end|> banned the drawn token's probability rose: the inspector shows both
        trace = aligned.events[len(ALIGNED_REPLY)].trace
        assert trace.prob_before < trace.prob_after
        assert f"p {trace.prob_before:.3f} → {trace.prob_after:.3f}" in shown
        # the base side kept its own (plain) settings
        assert app.transcripts["base"].last.reply_text.startswith(BASE_CYCLE_TEXT[:8])  # type: ignore[union-attr]


async def test_a_setting_changed_mid_stream_applies_from_the_next_token(
    tiny_config: Config, data_dir: Path
) -> None:
    app = PlaygroundApp(tiny_config, max_tokens=len(ALIGNED_REPLY) + 4)
    async with app.run_test(size=SIZE) as pilot:
        await models_loaded(pilot)

        class SlowSettings(dict[str, SamplerSettings]):
            """Reading the settings costs 60 ms, so the change lands mid-reply."""

            def __getitem__(self, key: str) -> SamplerSettings:
                time.sleep(0.06)
                value: SamplerSettings = super().__getitem__(key)
                return value

        app.settings = SlowSettings(app.settings)
        await send(pilot, "Hello")
        aligned_turns = app.transcripts["aligned"].turns
        await wait_until(pilot, lambda: bool(aligned_turns) and len(aligned_turns[-1].events) >= 1)
        app.update_setting("aligned", ban_eos=True)
        await turn_done(pilot)
        events = aligned_turns[-1].events
        flags = [e.trace.settings.ban_eos for e in events]
        # the first token was drawn without the ban, some later one with it: the switch
        # happened once, mid-stream, and stuck
        assert flags[0] is False and flags[-1] is True
        switch = flags.index(True)
        assert all(flags[switch:])
        assert IM_END not in [e.id for e in events]
        assert aligned_turns[-1].reason == "max_tokens"


async def test_html_export_is_the_analysis_report_of_the_turn(
    tiny_config: Config, data_dir: Path, tiny_aligned: LlamaModel
) -> None:
    app = PlaygroundApp(tiny_config, max_tokens=len(ALIGNED_REPLY) + 4)
    async with app.run_test(size=SIZE) as pilot:
        await models_loaded(pilot)
        app.update_setting("base", seed=7)  # greedy either way: the replies do not change
        await send(pilot, "Hello")
        await turn_done(pilot)
        aligned = app.transcripts["aligned"].last
        base = app.transcripts["base"].last
        assert aligned is not None and base is not None
        await wait_until(
            pilot,
            lambda: aligned.analysis is not None and base.analysis is not None,
        )
        await pilot.press("ctrl+x")
        await pilot.pause()
        pages = list((data_dir / "exports").glob("*.html"))
        assert len(pages) == 1
        page = pages[0].read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)=["']?https?:""", page)  # self-contained
    # both models, both prompts, the base reply
    assert "Tiny base" in page and "Tiny aligned" in page
    assert html.escape("<|im_start|>assistant") in page
    assert html.escape(BASE_CYCLE_TEXT.strip()) in page
    # the aligned reply, token by token as the tiny model was built to answer, each span
    # carrying the shift class the app shows for that token
    spans = re.findall(r'<span id="t-0-(\d+)" class="([^"]*)"[^>]*>([^<]*)</span>', page)
    vocab = tiny_aligned.vocab
    expected = [hex_escape(vocab.pieces[t]) for t in (*ALIGNED_REPLY, IM_END)]
    assert [html.unescape(p) for _i, _c, p in spans] == expected
    for (_i, cls, _p), view in zip(spans, aligned.other, strict=True):
        assert view is not None and view.shift_class is not None
        assert cls.split()[0] == view.shift_class
        assert view.shift_class in {"unshifted", "marginal", "shifted"}
    # the reverse direction: the base reply ranked by the aligned model
    assert len(re.findall(r'<span id="t-1-\d+"', page)) == len(base.events)
    # each model's own settings, the one that differs marked
    assert "Sampler settings (both models)" not in page
    assert re.search(r"<tr class=differs><td>seed</td><td>7</td><td>[^<]*</td></tr>", page)
    assert "<tr><td>temperature</td>" in page


def test_piece_label_shows_byte_tokens_as_hex(tiny_aligned: LlamaModel) -> None:
    vocab = tiny_aligned.vocab
    one, letter = BYTE_TOKEN_OFFSET + 0x01, BYTE_TOKEN_OFFSET + 0x41
    assert vocab.kind(one) == TokenKind.BYTE
    assert piece_label(vocab.pieces[one], one, vocab) == "<0x01>"
    assert piece_label(vocab.pieces[letter], letter, vocab) == "<0x41>"
    # without a vocabulary at hand a control byte still never shows raw
    assert piece_label(b"\x01", None, None) == "<0x01>"
    assert piece_label(b"\xf0", None, None) == "<0xF0>"


async def test_inspector_top_k_shows_byte_tokens_as_hex(tiny_aligned: LlamaModel) -> None:
    vocab = tiny_aligned.vocab
    one = BYTE_TOKEN_OFFSET + 0x01
    hello = ALIGNED_REPLY[0]
    ev = TokenEvent(
        index=0,
        id=hello,
        piece=vocab.pieces[hello],
        kind=vocab.kind(hello),
        text="Hello",
        logprob=-0.1,
        top=(TopEntry(hello, vocab.pieces[hello], -0.1), TopEntry(one, vocab.pieces[one], -3.0)),
        prob_after=1.0,
    )
    other = OtherView(
        rank=2,
        logprob=-1.0,
        top=((vocab.pieces[one], -0.5), (vocab.pieces[hello], -1.0)),
        shift_class="marginal",
        top_ids=(one, hello),
    )

    class Host(App[int]):
        def compose(self) -> ComposeResult:
            yield TokenInspector()

    host = Host()
    async with host.run_test(size=(120, 20)) as pilot:
        host.query_one(TokenInspector).show_token(
            "aligned", "base", ev, other, vocab=vocab, other_vocab=vocab
        )
        await pilot.pause()
        shown = inspector_text(host)
    assert shown.count("'<0x01>'") == 2  # in both top-k lists
    assert "\\x01" not in shown
