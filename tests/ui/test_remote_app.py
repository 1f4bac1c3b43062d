"""The whole app on a pair served by a real llama-server (router mode, the tiny pair).

The app holds Backends, so a server pair streams into both panes like an in-process one; the
Models panel says where each model runs and greys out what the server cannot do, with why;
a conversation file never holds the server's API key.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import Static

from playground.config import load_config
from playground.ui.app import PlaygroundApp
from tests.servers import RunningServer, llama_server
from tests.tiny_gguf import ALIGNED_REPLY_TEXT, BASE_CYCLE_TEXT
from tests.ui.conftest import SIZE, models_loaded, turn_done
from tests.ui.test_app import send

KEY = "ui-test-key-5f1c2e"


@pytest.fixture(scope="module")
def keyed_router(tmp_path_factory: pytest.TempPathFactory, tiny_pair) -> Iterator[RunningServer]:  # type: ignore[no-untyped-def]
    models = {"tiny-base": tiny_pair.base, "tiny-aligned": tiny_pair.aligned}
    work = tmp_path_factory.mktemp("ui-server")
    with llama_server(models=models, n_ctx=256, api_key=KEY, workdir=work) as server:
        yield server


async def test_a_server_pair_streams_and_says_where_it_runs(
    keyed_router: RunningServer,
    tmp_path: Path,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PLAYGROUND_UI_TEST_KEY", KEY)
    cfg = tmp_path / "models.toml"
    entry = (
        'kind = "llama-server"\nurl = "{url}"\nserver_model = "{name}"\n'
        'api_key_env = "PLAYGROUND_UI_TEST_KEY"\n'
    )
    cfg.write_text(
        '[pair]\nbase = "tb"\naligned = "ta"\n\n'
        '[models.tb]\nname = "Tiny base (server)"\nrole = "base"\n'
        + entry.format(url=keyed_router.url, name="tiny-base")
        + '\n[models.ta]\nname = "Tiny aligned (server)"\nrole = "aligned"\n'
        + entry.format(url=keyed_router.url, name="tiny-aligned")
    )
    app = PlaygroundApp(load_config(cfg), max_tokens=24)
    async with app.run_test(size=SIZE) as pilot:
        await models_loaded(pilot)
        assert not app.load_errors, app.load_errors
        await send(pilot, "Hello")
        await turn_done(pilot)
        aligned = app.transcripts["aligned"].last
        base = app.transcripts["base"].last
        assert aligned is not None and aligned.reply_text == ALIGNED_REPLY_TEXT
        assert base is not None and base.reply_text.startswith(BASE_CYCLE_TEXT)
        await pilot.press("f5")
        await pilot.pause(0.5)
        status = str(app.screen.query_one("#status-aligned", Static).render())
        assert f"runs llama-server at {keyed_router.url} (model tiny-aligned)" in status
        assert "live sampler changes" in status and "llama-server fixes" in status
    for saved in (data_dir / "conversations").glob("*.jsonl"):
        assert KEY not in saved.read_text()
