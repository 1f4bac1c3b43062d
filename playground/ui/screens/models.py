"""The models panel: pick a model per side from models.toml, load it, see where it runs, its
GPU offload, and what its backend can do (what it cannot is greyed, with the reason)."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Select, Static

from playground.config import ModelSpec
from playground.engine.backend import Capabilities, describe_capabilities
from playground.session.turns import SIDES

if TYPE_CHECKING:
    from playground.ui.app import PlaygroundApp


def choice_label(spec: ModelSpec) -> str:
    """The models.toml name, with the role only where the name does not already say it."""
    return spec.name if spec.role in spec.name.lower() else f"{spec.name} ({spec.role})"


def capability_lines(caps: Capabilities) -> str:
    """One line per capability: a tick, or greyed with the reason the backend gave."""
    lines = []
    for label, supported, reason in describe_capabilities(caps):
        if supported:
            lines.append(f"  ✓ {escape(label)}")
        else:
            lines.append(f"  [dim]✗ {escape(label)}: {escape(reason)}[/dim]")
    return "\n".join(lines)


class ModelsScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    ModelsScreen { align: center middle; }
    ModelsScreen > Vertical { width: 95%; height: auto; max-height: 95%;
                              border: round $accent; background: $surface; padding: 0 1; }
    ModelsScreen .status { height: auto; color: $text-muted; margin-bottom: 1; }
    """
    BINDINGS = [Binding("escape,f5", "dismiss", "Close")]

    @property
    def playground(self) -> PlaygroundApp:
        return cast("PlaygroundApp", self.app)

    def compose(self) -> ComposeResult:
        app = self.playground
        config = app.config
        choices = [(choice_label(s), mid) for mid, s in (config.models.items() if config else [])]
        with Vertical():
            yield Label(f"models.toml: {config.source if config else '(none)'}")
            yield Button("Reload models.toml", id="reload-config")
            for side in SIDES:
                spec = app.specs.get(side)
                yield Label(f"[b]{side}[/b]")
                yield Select(
                    choices,
                    value=spec.id if spec is not None else Select.NULL,
                    prompt="pick a model",
                    id=f"pick-{side}",
                )
                yield Button(f"Load for {side}", id=f"load-{side}")
                yield Static("", classes="status", id=f"status-{side}")

    def on_mount(self) -> None:
        self.query_one(f"#pick-{SIDES[0]}", Select).focus()
        self._refresh_status()
        self.set_interval(0.25, self._refresh_status)

    def _refresh_status(self) -> None:
        app = self.playground
        for side in SIDES:
            model = app.models.get(side)
            pane = app.pane(side)
            if pane.loading:
                text = "loading... (the app keeps running)"
            elif side in app.load_errors:
                text = f"[red]error:[/red] {app.load_errors[side]}"
            elif model is not None:
                info = model.info
                offload = info.offload.describe() if info.offload else "offload unknown"
                text = (
                    f"{info.name} · {info.architecture} · vocab {info.n_vocab} · "
                    f"n_ctx {info.n_ctx} · {info.n_threads} threads · loaded in "
                    f"{info.load_s:.1f}s\nruns {escape(info.runs_on)} · {offload}\n"
                    f"{capability_lines(model.capabilities)}"
                )
            else:
                text = "no model"
            self.query_one(f"#status-{side}", Static).update(text)

    @on(Button.Pressed)
    def _load(self, event: Button.Pressed) -> None:
        if event.button.id == "reload-config":
            self._reload()
            return
        if not event.button.id or not event.button.id.startswith("load-"):
            return
        side = event.button.id.removeprefix("load-")
        value = self.query_one(f"#pick-{side}", Select).value
        config = self.playground.config
        if not isinstance(value, str) or config is None:
            self.notify("Pick a model first.", severity="warning")
            return
        self.playground.load_side(side, config.models[value])
        self._refresh_status()

    def _reload(self) -> None:
        """Read models.toml again (after fixing it) and offer its models; a side with no
        model loads the pair's."""
        app = self.playground
        if not app.reload_config() or app.config is None:
            self.notify("models.toml still has a problem: see the panes.", severity="error")
            return
        choices = [(choice_label(s), mid) for mid, s in app.config.models.items()]
        pair = {"base": app.config.pair.base, "aligned": app.config.pair.aligned}
        for side in SIDES:
            self.query_one(f"#pick-{side}", Select).set_options(choices)
            if app.models.get(side) is None and not app.pane(side).loading:
                app.load_side(side, app.config.models[pair[side]])
        self.query_one(Label).update(f"models.toml: {app.config.source}")
        self.notify(f"Read {app.config.source}: {len(choices)} models.")
        self._refresh_status()
