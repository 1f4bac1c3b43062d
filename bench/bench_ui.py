"""UI performance: keypress latency while both models stream, app vs engine rate, startup.

Targets (issue 6):
- while both models stream, a keypress reaches the screen in <= 50 ms at the 95th percentile;
- the streaming rate shown in the app is >= 0.9x the engine's rate for the same model;
- startup to first paint, models excluded, <= 1 s.

Runs on the demo pair from the default config (or --config). The engine's rate is measured in
the same run under the same conditions as in the app: both models streaming at once, each in
its own thread, same prompt, greedy, same max tokens; only the UI is missing.

Usage: python bench/bench_ui.py [--config models.toml] [--samples 40] [--max-tokens 400]
       [--probe-tokens 1600]
       [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# first, as when the app is launched: playground.ui sets Textual's frame rate before Textual
# is imported
import playground.ui  # noqa: E402, I001

import textual.drivers.headless_driver  # noqa: E402
from textual import events  # noqa: E402
from textual.drivers.headless_driver import HeadlessDriver  # noqa: E402
from textual.widgets import Input  # noqa: E402

import playground.ui.app  # noqa: E402
from playground.config import Config, load_config, open_model  # noqa: E402
from playground.engine.llama.model import LlamaModel  # noqa: E402
from playground.engine.types import Finished  # noqa: E402
from playground.engine.llama.factory import factory_for  # noqa: E402
from playground.engine.settings import SamplerSettings  # noqa: E402
from playground.ui.app import PlaygroundApp  # noqa: E402
from playground.templates.prompt import build_prompt, default_template  # noqa: E402
from playground.ui.widgets.inspector import TokenInspector  # noqa: E402
from playground.session.jobs import Work, WorkKind  # noqa: E402
from playground.ui.workers import CallDone, lower_priority  # noqa: E402

PROMPT = "Write a long story about a lighthouse keeper and the sea."

STARTUP_SNIPPET = """
import time, asyncio
t0 = time.perf_counter()
from playground.ui.app import PlaygroundApp
async def main():
    app = PlaygroundApp(load_models=False)
    async with app.run_test(size=(100, 30)) as pilot:
        while app.first_paint_at is None:
            await pilot.pause(0.005)
        print(app.first_paint_at - t0)
asyncio.run(main())
"""


def startup_s(config: str | None) -> float:
    """Fresh interpreter: imports + app construction + first paint, no model loading."""
    env = dict(os.environ)
    if config:
        env["PLAYGROUND_CONFIG"] = config
    out = subprocess.run(
        [sys.executable, "-c", STARTUP_SNIPPET],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[1],
        check=True,
    ).stdout
    return float(out.strip().splitlines()[-1])


BOTH_STREAM = SamplerSettings(ban_eos=True)
"""Greedy with end-of-generation banned, in the app and the engine alike: the aligned model
would otherwise stop after a few dozen tokens and "while both stream" would be a moment."""


def engine_rates(models: dict[str, LlamaModel], max_tokens: int) -> dict[str, float]:
    """Both models streaming at once in two threads, no UI: tok/s per side."""
    rates: dict[str, float] = {}

    def run(side: str, model: LlamaModel) -> None:
        lower_priority()  # as the app's generate worker does
        prompt = build_prompt(model, default_template(model), "chat", [], PROMPT)
        model.reset()  # no KV reuse advantage for either measurement
        # the same call the app makes: top-5, the full sampler factory
        stream = model.stream(
            prompt.ids,
            settings=BOTH_STREAM,
            max_tokens=max_tokens,
            top_k=5,
            make_sampler=factory_for(model),
        )
        for item in stream:
            if isinstance(item, Finished):
                rates[side] = item.tok_per_s

    threads = [threading.Thread(target=run, args=(s, m)) for s, m in models.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return rates


class TerminalHeadlessDriver(HeadlessDriver):
    """Headless input, but the app renders every update into terminal escape codes as it
    would for a real terminal (Textual skips that work when headless); the bytes are
    counted and dropped."""

    written = 0

    @property
    def is_headless(self) -> bool:
        return False

    def write(self, data: str) -> None:
        TerminalHeadlessDriver.written += len(data)


PROBE_BLOCK = 10
"""Key presses of one kind in a row before the next kind."""

FOCUS_SETTLE_S = 0.3
"""After moving focus (which repaints both borders and rebuilds the footer's key list), wait
this long before the timed key, so that work is not charged to it."""


def _changed(widget: object, attribute: str, before: object) -> bool:
    return bool(getattr(widget, attribute) != before)


class ProbeApp(PlaygroundApp):
    """The app, plus a stopwatch from a key event to the screen update that shows it."""

    CSS_PATH = str(Path(playground.ui.app.__file__).with_name(str(PlaygroundApp.CSS_PATH)))

    _shown: Callable[[], bool] | None = None
    _painted: asyncio.Future[float] | None = None

    def post_display_hook(self) -> None:
        if self._shown is not None and self._painted is not None and self._shown():
            self._painted.set_result(time.perf_counter())
            self._shown = None

    async def key_to_screen(self, key: events.Key, shown: Callable[[], bool]) -> float:
        """Post `key` as a terminal driver would and return the milliseconds until the
        first screen update after which `shown()` holds. (Pilot.press also waits for the
        app to go idle, which never happens while two models decode.)"""
        self._painted = asyncio.get_running_loop().create_future()
        self._shown = shown
        t0 = time.perf_counter()
        self.post_message(key)
        return (await self._painted - t0) * 1000


async def app_run(
    config_path: str | None, models: dict[str, LlamaModel], samples: int, max_tokens: int
) -> dict[str, object]:
    config = load_config(config_path)
    app = ProbeApp(config, load_models=False, max_tokens=max_tokens)
    # run_test picks the driver by this name at start-up
    textual.drivers.headless_driver.HeadlessDriver = TerminalHeadlessDriver  # type: ignore[misc]
    try:
        return await _app_run(app, config, models, samples)
    finally:
        textual.drivers.headless_driver.HeadlessDriver = HeadlessDriver  # type: ignore[misc]


async def _app_run(
    app: ProbeApp, config: Config, models: dict[str, LlamaModel], samples: int
) -> dict[str, object]:
    latencies: list[float] = []
    typing: list[float] = []
    moving: list[float] = []
    shown: dict[str, float] = {}
    arrival: dict[str, float] = {}
    async with app.run_test(size=(120, 36)) as pilot:
        pair = {"base": config.pair.base, "aligned": config.pair.aligned}
        for side, model in models.items():
            model.reset()
            loaded = (model, config.models[pair[side]])
            app.post_message(CallDone(Work(WorkKind.LOAD, side), loaded))
        while not all(app.models.values()):
            await pilot.pause(0.01)
        for side in ("base", "aligned"):
            app.set_settings(side, BOTH_STREAM)
        app.query_one("#prompt", Input).value = PROMPT
        await pilot.press("enter")
        first_seen: dict[str, tuple[float, int]] = {}
        last_seen: dict[str, tuple[float, int]] = {}

        def running() -> bool:
            return any(
                (t := app.transcripts[s].last) is not None and t.reason is None
                for s in ("base", "aligned")
            )

        def both_streaming() -> bool:
            return all(
                (t := app.transcripts[s].last) is not None and t.reason is None and t.events
                for s in ("base", "aligned")
            )

        while not both_streaming():
            await asyncio.sleep(0.005)
        inspector = app.query_one(TokenInspector)
        while running():
            now = time.perf_counter()
            for s in ("base", "aligned"):
                n = len(app.transcripts[s].turns[-1].events)
                first_seen.setdefault(s, (now, n))
                if app.transcripts[s].turns[-1].reason is None:
                    last_seen[s] = (now, n)
            done = len(latencies) + len(typing) + len(moving)
            if done < 3 * samples and both_streaming():
                box = app.query_one("#prompt", Input)
                kind = (done // PROBE_BLOCK) % 3  # in blocks: focus moves seldom
                if kind == 0:
                    # the common keypress: a character typed into the message box
                    if not box.has_focus:
                        box.focus()
                        await asyncio.sleep(FOCUS_SETTLE_S)
                    before_value = box.value
                    shown_x = functools.partial(_changed, box, "value", before_value)
                    typing.append(await app.key_to_screen(events.Key("x", "x"), shown_x))
                    box.value = ""
                elif kind == 1:
                    # picking a token: Left in a pane moves the cursor, the inspector follows
                    pane = app.pane("aligned")
                    pane.focus()
                    await asyncio.sleep(FOCUS_SETTLE_S)
                    before_cursor = pane.cursor
                    shown_l = functools.partial(_changed, pane, "cursor", before_cursor)
                    moving.append(await app.key_to_screen(events.Key("left", None), shown_l))
                else:
                    # F7 shows or hides the inspector: a layout change of the whole screen
                    before = inspector.display
                    shown_f7 = functools.partial(_changed, inspector, "display", before)
                    latencies.append(await app.key_to_screen(events.Key("f7", None), shown_f7))
                await asyncio.sleep(0.03)
            else:
                await asyncio.sleep(0.02)
        await app.workers.wait_for_complete()
        await pilot.pause()
        for s in ("base", "aligned"):
            m = re.search(r"([\d.]+) tok/s", app.pane(s).status_text)
            shown[s] = float(m.group(1)) if m else 0.0
            (t_a, n_a), (t_b, n_b) = first_seen[s], last_seen.get(s, first_seen[s])
            arrival[s] = (n_b - n_a) / (t_b - t_a) if t_b > t_a else 0.0
        names = {s: app.specs[s].name for s in ("base", "aligned")}  # type: ignore[union-attr]
    return {
        "latencies": latencies,
        "typing": typing,
        "moving": moving,
        "shown": shown,
        "arrival": arrival,
        "names": names,
    }


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=None)
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--max-tokens", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--probe-tokens",
        type=int,
        default=1600,
        help="max tokens of the key-press run (long enough for every sample)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("PLAYGROUND_DATA_DIR", tempfile.mkdtemp(prefix="bench-ui-"))

    start = statistics.median(startup_s(args.config) for _ in range(3))
    config = load_config(args.config)
    models = {
        "base": open_model(config.models[config.pair.base]),
        "aligned": open_model(config.models[config.pair.aligned]),
    }
    # Rates: rounds of (engine alone, app with no key presses), each pair back to back so
    # they see the same machine; the median of the rounds' ratios is reported. Each key
    # press is work the UI thread takes from the models, so latencies come from another run.
    engine: dict[str, list[float]] = {"base": [], "aligned": []}
    shown: dict[str, list[float]] = {"base": [], "aligned": []}
    arrival: dict[str, list[float]] = {"base": [], "aligned": []}
    for _ in range(args.rounds):
        for side, rate in engine_rates(models, args.max_tokens).items():
            engine[side].append(rate)
        quiet = asyncio.run(app_run(args.config, models, 0, args.max_tokens))
        for side in ("base", "aligned"):
            shown[side].append(quiet["shown"][side])  # type: ignore[index]
            arrival[side].append(quiet["arrival"][side])  # type: ignore[index]
    result = asyncio.run(app_run(args.config, models, args.samples, args.probe_tokens))
    lat: list[float] = result["latencies"]  # type: ignore[assignment]
    typ: list[float] = result["typing"]  # type: ignore[assignment]
    mov: list[float] = result["moving"]  # type: ignore[assignment]
    names: dict[str, str] = result["names"]  # type: ignore[assignment]

    rows = [
        ("startup to first paint (median of 3, s)", f"{start:.3f}", "<= 1.0", start <= 1.0),
        (
            f"keypress -> screen p95, both streaming: typed character (ms, n={len(typ)})",
            f"{pct(typ, 0.95):.1f} (p50 {pct(typ, 0.5):.1f}, max {max(typ):.1f})",
            "<= 50",
            pct(typ, 0.95) <= 50,
        ),
        (
            f"  Left in a pane: token cursor + inspector (ms, n={len(mov)})",
            f"{pct(mov, 0.95):.1f} (p50 {pct(mov, 0.5):.1f}, max {max(mov):.1f})",
            "<= 50",
            pct(mov, 0.95) <= 50,
        ),
        (
            f"  F7: inspector shown/hidden, a re-layout (ms, n={len(lat)})",
            f"{pct(lat, 0.95):.1f} (p50 {pct(lat, 0.5):.1f}, max {max(lat):.1f})",
            "<= 50",
            pct(lat, 0.95) <= 50,
        ),
    ]
    for s in ("base", "aligned"):
        ratios = [a / e if e else 0.0 for a, e in zip(shown[s], engine[s], strict=True)]
        ratio = statistics.median(ratios)
        rows.append(
            (
                f"{s} ({names[s]}): app tok/s / engine tok/s, median of {args.rounds}",
                f"{ratio:.2f}x ("
                + ", ".join(f"{a:.1f}/{e:.1f}" for a, e in zip(shown[s], engine[s], strict=True))
                + f"; on-screen arrival {statistics.median(arrival[s]):.1f})",
                ">= 0.9x",
                ratio >= 0.9,
            )
        )
    if args.json:
        print(
            json.dumps(
                [dict(zip(("metric", "value", "target", "ok"), r, strict=True)) for r in rows]
            )
        )
    else:
        width = max(len(r[0]) for r in rows)
        print(f"{'metric':<{width}}  {'value':<52}  {'target':<8}  ok")
        for metric, value, target, ok in rows:
            print(f"{metric:<{width}}  {value:<52}  {target:<8}  {'yes' if ok else 'NO'}")
    print(f"cpu cores: {os.cpu_count()}; max tokens {args.max_tokens}; greedy; prompt {PROMPT!r}")
    for m in models.values():
        m.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
