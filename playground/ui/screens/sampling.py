"""The sampling panel: per-model settings and tricks, with presets, applied live.

The form is built from the SamplerSettings dataclass itself, so every knob the sampling
module adds shows up here. A change replaces the side's settings object; a stream in
progress reads it before its next token.

What a side's backend cannot do is read from its capabilities: the control is greyed out
(disabled) with the reason beside it, and a preset that sets it leaves it at its default and
says so. Nothing the user sets is silently ignored.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, cast

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Select, Static, Switch, TabbedContent, TabPane

from playground.engine.backend import Capabilities
from playground.engine.settings import InvalidSetting, SamplerSettings, check_value
from playground.sampling.presets import BUILTIN_PRESETS, PresetError, load_user_presets
from playground.session.turns import SIDES

if TYPE_CHECKING:
    from playground.ui.app import PlaygroundApp

EDITABLE = (int, float, bool, str)


def editable_fields() -> list[dataclasses.Field[Any]]:
    """The settings a form can edit: numbers, switches and plain strings."""
    defaults = SamplerSettings()
    return [
        f
        for f in dataclasses.fields(SamplerSettings)
        if isinstance(getattr(defaults, f.name), EDITABLE)
    ]


def parse_value(current: Any, raw: str) -> Any:
    """The typed value of a form entry, in the type of the current value. Raises ValueError."""
    if isinstance(current, bool):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if isinstance(current, int):
        return int(raw)
    if isinstance(current, float):
        return float(raw)
    return raw


def check_entry(name: str, current: Any, raw: str) -> tuple[Any, str | None]:
    """The typed value of a form entry and, when it is not valid, what would be."""
    try:
        value = parse_value(current, raw)
    except ValueError:
        kind = "a whole number" if isinstance(current, int) else "a number"
        return None, f"{raw!r} is not {kind}"
    try:
        check_value(name, value)
    except InvalidSetting as exc:
        return None, f"out of range; valid: {exc.valid}"
    return value, None


def preset_choices(app: PlaygroundApp) -> tuple[dict[str, SamplerSettings], str | None]:
    """The built-in presets and the user's own from models.toml, and any error in them."""
    presets = dict(BUILTIN_PRESETS)
    config = app.config
    if config is None:
        return presets, None
    try:
        user = load_user_presets(config.source)
    except (PresetError, OSError, UnicodeDecodeError) as exc:
        return presets, f"your presets in {config.source} are not offered: {exc}"
    presets.update({f"{name} (yours)": settings for name, settings in user.items()})
    return presets, None


def when_changes_apply(side: str, caps: Capabilities | None) -> str:
    """The panel's first line: live, or from the next reply and why."""
    why_not = caps.why_not("live_sampler_changes") if caps is not None else None
    if why_not is None:
        return f"{side}: changes apply live, from the next token"
    return f"{side}: changes apply from the next reply, not live: {why_not}"


class SamplingScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    SamplingScreen { align: center middle; }
    SamplingScreen > TabbedContent { width: 95%; height: 95%; border: round $accent;
                                     background: $surface; }
    SamplingScreen .row { height: 3; }
    SamplingScreen .row Label { width: 24; padding: 1 1 0 0; }
    SamplingScreen .row Input { width: 1fr; }
    SamplingScreen .row Input.-invalid { border: tall $error; }
    SamplingScreen .row .field-error { width: 1fr; color: $error; padding: 1 0 0 1; }
    SamplingScreen .preset-error { color: $error; height: auto; }
    SamplingScreen .why-not { color: $text-muted; padding: 0 0 0 24; }
    """
    BINDINGS = [Binding("escape,f4", "dismiss", "Close")]

    @property
    def playground(self) -> PlaygroundApp:
        return cast("PlaygroundApp", self.app)

    def capabilities(self, side: str) -> Capabilities | None:
        """The side's backend's capabilities; None before its model has loaded."""
        model = self.playground.models.get(side)
        return model.capabilities if model is not None else None

    def compose(self) -> ComposeResult:
        self.presets, preset_error = preset_choices(self.playground)
        presets = [(name, name) for name in self.presets]
        with TabbedContent():
            for side in SIDES:
                current = self.playground.settings[side]
                caps = self.capabilities(side)
                with TabPane(side, id=f"tab-{side}"), VerticalScroll():
                    yield Label(when_changes_apply(side, caps), id=f"applies-{side}")
                    yield Select(presets, prompt="preset...", id=f"preset-{side}")
                    if preset_error:
                        yield Static(preset_error, classes="preset-error")
                    for f in editable_fields():
                        value = getattr(current, f.name)
                        why_not = caps.why_not(f.name) if caps is not None else None
                        off = why_not is not None
                        with Horizontal(classes="row"):
                            yield Label(f.name)
                            if isinstance(value, bool):
                                yield Switch(value, id=f"{side}--{f.name}", disabled=off)
                            else:
                                yield Input(str(value), id=f"{side}--{f.name}", disabled=off)
                                yield Static(
                                    "", classes="field-error", id=f"{side}--{f.name}--error"
                                )
                        if why_not is not None:
                            yield Label(
                                f"not on this backend: {why_not}",
                                classes="why-not",
                                id=f"{side}--{f.name}--why-not",
                            )

    def _split(self, widget_id: str | None) -> tuple[str, str] | None:
        if not widget_id or "--" not in widget_id:
            return None
        side, name = widget_id.split("--", 1)
        return side, name

    def _check(self, entry: Input) -> tuple[str, str, Any] | None:
        """Show the entry's error next to it (or clear it); the valid value, if it is."""
        where = self._split(entry.id)
        if where is None:
            return None
        side, name = where
        current = getattr(self.playground.settings[side], name)
        value, error = check_entry(name, current, entry.value)
        entry.set_class(error is not None, "-invalid")
        self.query_one(f"#{side}--{name}--error", Static).update(error or "")
        return None if error is not None else (side, name, value)

    @on(Input.Changed)
    def _input_changed(self, event: Input.Changed) -> None:
        self._check(event.input)

    @on(Input.Submitted)
    @on(Input.Blurred)
    def _input_done(self, event: Input.Submitted | Input.Blurred) -> None:
        checked = self._check(event.input)
        if checked is not None:
            side, name, value = checked
            if value != getattr(self.playground.settings[side], name):
                self.playground.update_setting(side, **{name: value})

    @on(Switch.Changed)
    def _switch(self, event: Switch.Changed) -> None:
        where = self._split(event.switch.id)
        if where is not None:
            self.playground.update_setting(where[0], **{where[1]: event.value})

    @on(Select.Changed)
    def _preset(self, event: Select.Changed) -> None:
        if not event.select.id or not event.select.id.startswith("preset-"):
            return
        if not isinstance(event.value, str):
            return
        side = event.select.id.removeprefix("preset-")
        preset = self.presets[event.value]
        caps = self.capabilities(side)
        dropped = caps.unsupported_settings(preset) if caps is not None else ()
        if dropped:
            defaults = SamplerSettings()
            preset = preset.replace(**{name: getattr(defaults, name) for name in dropped})
            assert caps is not None
            reasons = "; ".join(f"{name}: {caps.why_not(name)}" for name in dropped)
            self.notify(
                f"{side}: preset {event.value} without what this backend cannot do ({reasons})",
                severity="warning",
            )
        self.playground.set_settings(side, preset)
        for f in editable_fields():
            value = getattr(preset, f.name)
            widget = self.query_one(f"#{side}--{f.name}")
            if isinstance(widget, Switch):
                widget.value = bool(value)
            elif isinstance(widget, Input):
                widget.value = str(value)
        self.notify(f"{side}: preset {event.value}")
