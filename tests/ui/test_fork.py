"""Forks, swaps and swipes in the whole app, on the tiny GGUF pair.

What follows a forced token comes from the models' design (tests/tiny_gguf.py): the aligned
model follows its reply chain and ends with <|im_end|> from any token off it; the base model
enters "the cat sat on a mat" from any token outside that cycle.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from textual.widgets import Input

from playground.config import Config
from playground.session.turns import Turn
from playground.ui.app import PlaygroundApp
from playground.ui.screens.fork import ForkScreen
from playground.ui.widgets.inspector import TokenInspector
from tests.tiny_gguf import (
    ALIGNED_REPLY,
    BASE_CYCLE,
    BASE_CYCLE_TEXT,
    IM_END,
    TOKEN_ID,
)
from tests.ui.conftest import models_loaded, turn_done, wait_until

WIDE = (140, 40)


async def send(pilot, text: str) -> None:  # type: ignore[no-untyped-def]
    box = pilot.app.query_one("#prompt", Input)
    box.focus()
    box.value = text
    await pilot.press("enter")


async def first_turn(pilot, app: PlaygroundApp) -> Turn:  # type: ignore[no-untyped-def]
    await models_loaded(pilot)
    await send(pilot, "Hello")
    await turn_done(pilot)
    aligned = app.transcripts["aligned"].last
    assert aligned is not None
    await wait_until(pilot, lambda: len(aligned.other) == len(aligned.events))
    return aligned


async def select(pilot, app: PlaygroundApp, side: str, index: int) -> None:  # type: ignore[no-untyped-def]
    pane = app.pane(side)
    pane.focus()
    await pilot.press("home", *["right"] * index)
    await pilot.pause()
    assert pane.cursor == index


async def branch_done(pilot, app: PlaygroundApp, side: str, old: Turn) -> Turn:  # type: ignore[no-untyped-def]
    await wait_until(
        pilot,
        lambda: (
            (t := app.transcripts[side].last) is not None and t is not old and t.reason is not None
        ),
    )
    await app.workers.wait_for_complete()
    new = app.transcripts[side].last
    assert new is not None
    return new


def assert_forked(original: Turn, branch: Turn, k: int, token: int) -> None:
    """The branch keeps the first k tokens, has `token` forced at k, and the original is
    untouched beside it."""
    assert branch.fork is not None and branch.fork.at == k and branch.fork.node == original.id
    assert [e.id for e in branch.events[:k]] == [e.id for e in original.events[:k]]
    assert branch.events[k].id == token and k in branch.forced
    assert set(branch.forced) == {k}


async def test_fork_from_the_inspector_with_the_keyboard_then_swipe(
    tiny_config: Config, data_dir: Path
) -> None:
    app = PlaygroundApp(tiny_config, max_tokens=24)
    async with app.run_test(size=WIDE) as pilot:
        original = await first_turn(pilot, app)
        before = [e.id for e in original.events]
        await select(pilot, app, "aligned", 2)
        await pilot.press("f")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ForkScreen)
        # the first choice is the aligned model's best alternative to "!" at #2
        choice = screen.choices[0]
        assert choice.source == "pick" and choice.ids[0] != ALIGNED_REPLY[2]
        assert choice.ids[0] == next(
            t.id for t in original.events[2].top if t.id != ALIGNED_REPLY[2]
        )
        await pilot.press("enter")
        branch = await branch_done(pilot, app, "aligned", original)
        assert_forked(original, branch, 2, choice.ids[0])
        # off its reply chain the aligned model stops at once
        assert [e.id for e in branch.events[3:]] == [IM_END] and branch.reason == "eog"
        # its probability before forcing is what the model gave it there
        alt = next(t for t in original.events[2].top if t.id == choice.ids[0])
        assert abs(branch.events[2].logprob - alt.logprob) < 1e-4
        # the original is intact, a sibling; the pane says which branch this is
        assert [e.id for e in original.events] == before
        assert app.session.tree.siblings(branch) == [original, branch]
        text = app.pane("aligned").body.document().plain
        assert "branch 2/2, forked at #2" in text
        # the inspector says the token was forced, and its probability before
        await select(pilot, app, "aligned", 2)
        head = str(app.query_one(TokenInspector).content.renderables[0])  # type: ignore[attr-defined]
        assert "FORCED" in head and f"p before={branch.events[2].prob:.3f}" in head
        # swipes: [ shows the original again, ] the fork
        await pilot.press("left_square_bracket")
        await pilot.pause()
        assert app.transcripts["aligned"].last is original
        assert "branch 1/2" in app.pane("aligned").body.document().plain
        await pilot.press("right_square_bracket")
        await pilot.pause()
        assert app.transcripts["aligned"].last is branch
        # the base side did not move
        assert len(app.session.tree.siblings(app.transcripts["base"].turns[0])) == 1


async def test_fork_with_the_mouse_on_an_alternative(tiny_config: Config, data_dir: Path) -> None:
    app = PlaygroundApp(tiny_config, max_tokens=12)
    async with app.run_test(size=WIDE) as pilot:
        await first_turn(pilot, app)
        base = app.transcripts["base"].last
        assert base is not None
        await select(pilot, app, "base", 3)
        inspector = app.query_one(TokenInspector)
        region = inspector.region
        spots = {
            app.screen.get_style_at(x, y).meta.get("fork"): (x, y)
            for y in range(region.y, region.bottom)
            for x in range(region.x, region.right)
            if app.screen.get_style_at(x, y).meta.get("fork") is not None
        }
        # the base model's own second choice at #3, where it said " on"
        second = base.events[3].top[1].id
        await pilot.click(offset=spots[(True, second)])
        branch = await branch_done(pilot, app, "base", base)
        assert_forked(base, branch, 3, second)
        # then the cycle goes on: from a token outside it, " the cat ..."; from one in it,
        # the next of the cycle
        after = (
            BASE_CYCLE[(BASE_CYCLE.index(second) + 1) % 6]
            if second in BASE_CYCLE
            else BASE_CYCLE[0]
        )
        assert branch.events[4].id == after
        assert len(branch.events) == 12


async def test_fork_here_from_the_palette_with_a_typed_token(
    tiny_config: Config, data_dir: Path
) -> None:
    app = PlaygroundApp(tiny_config, max_tokens=24)
    async with app.run_test(size=WIDE) as pilot:
        original = await first_turn(pilot, app)
        await select(pilot, app, "aligned", 4)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Fork here")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ForkScreen))
        box = app.screen.query_one("#fork-typed", Input)
        box.focus()
        box.value = "!"
        await pilot.press("enter")
        branch = await branch_done(pilot, app, "aligned", original)
        # "!" at #4 (where the model said 日): its reply chain goes on from "!" again
        assert_forked(original, branch, 4, ALIGNED_REPLY[2])
        assert branch.forced[4].source == "typed"
        assert [e.id for e in branch.events[5:]] == [*ALIGNED_REPLY[3:], IM_END]


async def test_swap_gives_the_base_model_the_aligned_token(
    tiny_config: Config, data_dir: Path
) -> None:
    app = PlaygroundApp(tiny_config, max_tokens=10)
    async with app.run_test(size=WIDE) as pilot:
        await first_turn(pilot, app)
        base = app.transcripts["base"].last
        assert base is not None
        await select(pilot, app, "base", 1)
        await pilot.press("s")
        branch = await branch_done(pilot, app, "base", base)
        # the aligned reply's #1 is " world", outside the base cycle: " the cat ..." follows
        assert_forked(base, branch, 1, TOKEN_ID["\u2581world"])
        assert branch.forced[1].source == "swap" and branch.forced[1].from_side == "aligned"
        assert [e.id for e in branch.events[2:]] == [*BASE_CYCLE, *BASE_CYCLE[:2]]
        assert branch.reply_text.startswith(" the world the cat")
        # once finished, the new branch is scored under the other model
        await wait_until(pilot, lambda: len(branch.other) == len(branch.events))


async def test_regenerate_makes_siblings_on_both_sides(tiny_config: Config, data_dir: Path) -> None:
    app = PlaygroundApp(tiny_config, max_tokens=6)
    async with app.run_test(size=WIDE) as pilot:
        original = await first_turn(pilot, app)
        await pilot.press("ctrl+r")
        again = await branch_done(pilot, app, "aligned", original)
        for side in ("base", "aligned"):
            last = app.transcripts[side].last
            assert last is not None and len(app.session.tree.siblings(last)) == 2
        assert [e.id for e in again.events] == [e.id for e in original.events]  # greedy
        app.action_previous_branch()
        await pilot.pause()
        assert app.transcripts["aligned"].last is original


CHILD = """
import asyncio, sys, time
from playground.config import load_config
from playground.ui.app import PlaygroundApp
from tests.ui.conftest import models_loaded, wait_until

class SlowBase(dict):
    # reading the base model's settings costs 50 ms: it streams at under 20 tok/s
    def __getitem__(self, side):
        if side == "base":
            time.sleep(0.05)
        return super().__getitem__(side)

async def main() -> None:
    app = PlaygroundApp(load_config(sys.argv[1]), max_tokens=400)
    async with app.run_test(size=(120, 36)) as pilot:
        await models_loaded(pilot)
        app.settings = SlowBase(app.settings)
        box = app.query_one("#prompt")
        box.value = "Hello"
        box.focus()
        await pilot.press("enter")
        # not turn_done: it waits for every worker, the base model's stream too
        await wait_until(pilot, lambda: app.transcripts["aligned"].last.reason is not None)
        aligned = app.transcripts["aligned"].last
        fork = app.fork(aligned, 3, [aligned.events[2].top[1].id], "pick")
        await wait_until(pilot, lambda: fork.reason is not None)
        app.action_previous_branch()  # the original on screen, the fork beside it
        await pilot.pause()
        print("READY", app.store.path, flush=True)
        await asyncio.sleep(60)  # the base model streams on until it is killed

asyncio.run(main())
"""


async def test_the_tree_survives_kill_9_and_resume(
    tiny_config: Config,
    tiny_pair,
    data_dir: Path,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    config = tiny_config.source
    env = {**os.environ, "PLAYGROUND_DATA_DIR": str(data_dir), "PYTHONPATH": os.getcwd()}
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(CHILD), str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line.startswith("READY"), line
        path = Path(line.split(maxsplit=1)[1].strip())
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    records = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    assert any(r["type"] == "node" and "fork" in r for r in records)
    app = PlaygroundApp(tiny_config, load_models=False)
    async with app.run_test(size=WIDE) as pilot:
        app.action_resume(path)
        await pilot.pause()
        shown = app.transcripts["aligned"].last
        assert shown is not None and shown.fork is None  # the branch that was on screen
        siblings = app.session.tree.siblings(shown)
        assert len(siblings) == 2
        fork = siblings[1]
        assert fork.fork is not None and fork.fork.at == 3 and 3 in fork.forced
        assert [e.id for e in fork.events[:3]] == [e.id for e in shown.events[:3]]
        assert [e.id for e in shown.events] == [*ALIGNED_REPLY, IM_END]
        # the base reply was cut off by the kill: it comes back, marked stopped
        base = app.transcripts["base"].last
        assert base is not None and base.events and base.reason == "cancelled"
        assert (BASE_CYCLE_TEXT * 40).startswith(base.reply_text)
        assert "branch 1/2" in app.pane("aligned").body.document().plain


async def test_exports_mark_forced_tokens_and_list_the_forks(
    tiny_config: Config, data_dir: Path
) -> None:
    app = PlaygroundApp(tiny_config, max_tokens=24)
    async with app.run_test(size=WIDE) as pilot:
        original = await first_turn(pilot, app)
        # "!" forced at #4: the aligned reply chain goes on from it
        branch = app.fork(original, 4, [ALIGNED_REPLY[2]], "pick")
        assert branch is not None
        await wait_until(pilot, lambda: branch.analysis is not None)
        p_before = branch.events[4].prob
        await pilot.press("ctrl+x")
        await pilot.pause()
        md_file, html_file = (
            next((data_dir / "exports").glob(f"*.{ext}")) for ext in ("md", "html")
        )
        md = md_file.read_text()
        # the branch on screen, its forced token marked, then every fork point
        assert "Hello world! ⟦!⟧ 日本🙂" in md
        assert f"forced token #4 '!' (pick, p before forcing {p_before:.4f})" in md
        assert "## Forks" in md and "aligned, turn 1: 2 replies" in md
        assert "branch 1: first reply: 'Hello world! 日本🙂" in md
        assert "branch 2 (on screen): forked at token #4: 'Hello world! ⟦!⟧" in md
        html = html_file.read_text()
        assert "tok forced" in html  # the forced token's span in the report
        assert f"p before forcing {p_before:.4f}" in html
        assert "Forks in this conversation" in html
