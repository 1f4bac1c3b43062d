"""Each key is declared once (playground/ui/keys.py): the app's and the panes' bindings, the
footer, the F1 help, the command palette and the README's key table all agree with it."""

from __future__ import annotations

from pathlib import Path

from playground.config import Config
from playground.ui.app import COMMANDS, PlaygroundApp
from playground.ui.keys import ALL_KEYS, APP_KEYS, PANE_KEYS, markdown_table
from playground.ui.screens.help import HELP
from playground.ui.widgets.model_pane import ModelPane
from tests.ui.conftest import SIZE

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_key_table_is_the_declaration() -> None:
    text = README.read_text(encoding="utf-8")
    start = text.index("| key | does |")
    table = text[start : text.index("\n\n", start) + 1]
    assert table == markdown_table(), "README: paste playground.ui.keys.markdown_table() there"


def test_every_declared_action_exists_and_is_bound() -> None:
    app_bound = {b.key: b.action for b in PlaygroundApp.BINDINGS}  # type: ignore[union-attr]
    pane_bound = {b.key: b.action for b in ModelPane.BINDINGS}  # type: ignore[union-attr]
    for key in APP_KEYS:
        if key.action is None:
            continue
        assert app_bound[key.keys] == key.action
        assert key.action == "quit" or hasattr(PlaygroundApp, f"action_{key.action}")
    for key in PANE_KEYS:
        if key.action is None:
            continue
        assert pane_bound[key.keys] == key.action
        name = key.action.split("(")[0]
        owner = PlaygroundApp if name.startswith("app.") else ModelPane
        assert hasattr(owner, f"action_{name.removeprefix('app.')}")


def test_help_lists_every_key_and_the_palette_every_command() -> None:
    for key in ALL_KEYS:
        assert f"| {key.shown} | {key.description} |" in HELP
    assert "| F8 |" in HELP  # once missing from F1
    for _title, _help, action in COMMANDS:
        assert hasattr(PlaygroundApp, f"action_{action}")
    titles = {title for title, _h, _a in COMMANDS}
    assert {k.palette for k in ALL_KEYS if k.palette} <= titles


async def test_footer_shows_the_footer_keys(tiny_config: Config, data_dir: Path) -> None:
    app = PlaygroundApp(tiny_config, load_models=False)
    async with app.run_test(size=(160, SIZE[1])) as pilot:
        await pilot.pause()
        shown = {getattr(k, "key", None) for k in app.screen.query("FooterKey")}
        wanted = {k.keys for k in APP_KEYS if k.footer and k.action}
        assert wanted <= shown
        hidden = {k.keys for k in APP_KEYS if not k.footer and k.action}
        assert not hidden & shown  # ctrl+p is Textual's palette key, shown on the right
