"""The conversation tree in the conversation file: append-only records, and their replay.

Every change to the tree is one JSON line, written as it happens, so a crash or a kill -9
loses nothing that reached the screen:

- `node`: a new turn on one side: its id, parent, the message, and for a fork the turn and
  token it branched from and which tokens were forced;
- `select`: the branch on screen changed under one parent (a swipe; `node` None cuts the
  branch there, as editing the last message does);
- `prompt`, `tokens`, `finish`, `error`, `scores`: a turn's data as it arrives, by node id.

Replaying the records in order rebuilds the same tree and the same branch on screen. Files
written before the tree existed (turn numbers instead of node ids, `drop_last`, `clear`)
replay too: each message then becomes one turn per side, in order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from playground.engine.settings import SamplerSettings
from playground.engine.types import Finished, StopReason, TokenKind
from playground.sampling.presets import PresetError, settings_from_mapping
from playground.session.records import token_from_record, view_from_record
from playground.session.tree import ConversationTree
from playground.session.turns import SIDES, ForcedToken, ForkOrigin, OtherView, PromptToken, Turn
from playground.templates.prompt import PromptSettings


class Appender(Protocol):
    """Where records go: the conversation file (or a list, in tests)."""

    def append(self, kind: str, **payload: Any) -> None:
        """Write one record now (flushed: a crash right after keeps it)."""


def node_record(turn: Turn) -> dict[str, Any]:
    """The `node` record of a new turn (its reply data follows in later records)."""
    rec: dict[str, Any] = {
        "node": turn.id,
        "side": turn.side,
        "parent": turn.parent,
        "exchange": turn.exchange,
        "user": turn.user,
        "mode": turn.mode,
    }
    if turn.fork is not None:
        rec["fork"] = {"from": turn.fork.node, "at": turn.fork.at}
    if turn.forced:
        rec["forced"] = {
            str(i): [f.source, f.from_side, f.note] for i, f in sorted(turn.forced.items())
        }
    return rec


def prompt_tokens_record(tokens: Iterable[PromptToken]) -> list[list[Any]]:
    return [[t.id, t.piece.hex(), t.kind.value, t.special] for t in tokens]


def _forced_from(rec: Mapping[str, Any] | None) -> dict[int, ForcedToken]:
    if not rec:
        return {}
    return {int(i): ForcedToken(str(s), f, str(n or "")) for i, (s, f, n) in rec.items()}


class BadRecord(ValueError):
    """A record with the wrong fields or types (a damaged or hand-edited file)."""


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise BadRecord("not a string")
    return value


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRecord("not an integer")
    return value


def _num(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRecord("not a number")
    return float(value)


def _side(value: Any) -> str:
    if value not in SIDES:
        raise BadRecord("no such side")
    return str(value)


def _mode(value: Any) -> str:
    if value not in ("chat", "document"):
        raise BadRecord("no such mode")
    return str(value)


class Replayer:
    """Applies records to a tree, one at a time (so a test can replay any prefix).

    A damaged record (wrong fields or types, a turn that does not exist) is skipped whole
    and counted in `skipped`: each record is read completely before it changes the tree.
    """

    def __init__(self, tree: ConversationTree | None = None) -> None:
        self.tree = tree if tree is not None else ConversationTree()
        self._exchange = 0
        self.skipped = 0
        self.setups: dict[str, tuple[PromptSettings | None, SamplerSettings | None]] = {}
        """Each side's last saved prompt and sampler settings (from `setup` and `prompt`
        records), for a resume to restore."""

    def apply(self, ev: Mapping[str, Any]) -> None:
        """Apply one record; a record that names no known turn, or is damaged, is skipped."""
        try:
            self._apply(ev)
        except (KeyError, TypeError, ValueError, IndexError, ArithmeticError, AttributeError):
            self.skipped += 1

    def _apply(self, ev: Mapping[str, Any]) -> None:
        kind = ev.get("type")
        tree = self.tree
        if kind == "node":
            self._node(ev)
        elif kind == "select":
            tree.select(_side(ev["side"]), ev["parent"], ev["node"])
        elif kind == "user":  # before the tree: one turn per side after the last one
            text, mode = _str(ev.get("text")), _mode(ev.get("mode", "chat"))
            self._exchange += 1
            for side in SIDES:
                turn = Turn(
                    user=text,
                    mode=mode,
                    template="",
                    id=tree.new_id(),
                    side=side,
                    parent=tree.leaf(side),
                    exchange=self._exchange,
                )
                tree.add(turn)
        elif kind == "drop_last":
            for side in SIDES:
                tree.cut(side, len(tree.path(side)) - 1)
        elif kind == "clear":
            for side in SIDES:
                tree.cut(side, 0)
        elif kind == "setup":
            self._setup(ev)
        elif kind in ("prompt", "tokens", "finish", "error", "scores"):
            target = self._target(ev)
            if kind == "prompt":
                self._setup(ev)
            if target is None:
                raise BadRecord("no such turn")
            apply_turn_record(target, kind, ev)

    def _setup(self, ev: Mapping[str, Any]) -> None:
        """A side's settings as saved; a part that does not read back keeps the last one."""
        side = ev.get("side")
        if side not in SIDES:
            return
        prompt, sampler = self.setups.get(side, (None, None))
        self.setups[side] = (
            read_prompt_settings(ev.get("prompt_settings")) or prompt,
            read_sampler_settings(ev.get("settings")) or sampler,
        )

    def _node(self, ev: Mapping[str, Any]) -> None:
        fork = ev.get("fork")
        origin = ForkOrigin(_int(fork["from"]), _int(fork["at"])) if fork else None
        parent = ev["parent"]
        if parent is not None:
            _int(parent)
        turn = Turn(
            user=_str(ev["user"]),
            mode=_mode(ev.get("mode", "chat")),
            template="",
            id=_int(ev["node"]),
            side=_side(ev["side"]),
            parent=parent,
            exchange=_int(ev.get("exchange", 0)),
            forced=_forced_from(ev.get("forced")),
            fork=origin,
        )
        if origin is not None:
            source = self.tree.get(origin.node)
            if source is None:
                raise KeyError(origin.node)
            turn.events.extend(source.events[: origin.at])
        self.tree.add(turn)
        self._exchange = max(self._exchange, turn.exchange)

    def _target(self, ev: Mapping[str, Any]) -> Turn | None:
        if "node" in ev:
            return self.tree.get(_int(ev["node"]))
        path = self.tree.path(_side(ev["side"]))  # before the tree: the turn's number
        index = _int(ev["turn"])
        return path[index] if 0 <= index < len(path) else None

    def finish(self) -> ConversationTree:
        """The tree as replayed; a reply cut off by a kill comes back marked stopped."""
        for turn in self.tree.turns.values():
            if turn.reason is None:
                turn.reason = "cancelled"
        return self.tree


def apply_turn_record(turn: Turn, kind: str, ev: Mapping[str, Any]) -> None:
    """One record of a turn's data (prompt, tokens, finish, error, scores) onto the turn.

    Every field is read and checked before the turn changes, so a damaged record leaves
    the turn as it was.

    Raises:
        BadRecord, KeyError, TypeError, ValueError: the record is damaged.
    """
    if kind == "prompt":
        template, text = _str(ev["template"]), _str(ev["text"])
        prompt_settings = read_prompt_settings(ev.get("prompt_settings"))
        settings = read_sampler_settings(ev.get("settings"))
        markers = frozenset(_int(i) for i in ev.get("markers") or ())
        user_specials = bool(ev.get("user_specials", False))
        stop = tuple(_str(x) for x in ev.get("stop") or ())
        prompt = [
            PromptToken(_int(i), bytes.fromhex(p), TokenKind(k), bool(sp))
            for i, p, k, sp in ev.get("tokens", [])
        ]
        turn.template, turn.prompt_text, turn.prompt = template, text, prompt
        turn.prompt_settings, turn.settings = prompt_settings, settings
        turn.markers, turn.user_specials, turn.stop = markers, user_specials, stop
    elif kind == "tokens":
        records = ev["tokens"]
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise BadRecord("tokens is not a list of objects")
        turn.events.extend([token_from_record(r) for r in records])
    elif kind == "finish":
        finished = Finished(
            reason=StopReason(ev["reason"]),
            tokens=_int(ev["tokens"]),
            elapsed_s=_num(ev["elapsed_s"]),
            text=_str(ev.get("text", "".join(e.text for e in turn.events))),
            prompt_tokens=_int(ev["prompt_tokens"]),
            reused_tokens=_int(ev["reused_tokens"]),
        )
        turn.reason, turn.finished = finished.reason.value, finished
    elif kind == "error":
        turn.error, turn.reason = _str(ev["message"]), "error"
    elif "views" in ev:
        turn.other = [view_from_record(v) for v in ev["views"]]
    else:  # a file from before views were saved: ranks and classes only
        turn.other = [
            OtherView(_int(r), None, (), c if isinstance(c, str) else None)
            if r is not None
            else None
            for r, c in zip(ev["ranks"], ev["classes"], strict=False)
        ]


def read_prompt_settings(rec: Any) -> PromptSettings | None:
    """Saved prompt settings, or None where there are none or they do not read back."""
    if not isinstance(rec, Mapping):
        return None
    try:
        return PromptSettings.from_mapping(rec)
    except ValueError:
        return None


def read_sampler_settings(rec: Any) -> SamplerSettings | None:
    """Saved sampler settings, or None where there are none or they do not read back."""
    if not isinstance(rec, Mapping):
        return None
    try:
        return settings_from_mapping(rec)
    except (PresetError, ValueError, TypeError):
        return None


def replay_tree(records: Iterable[Mapping[str, Any]]) -> ConversationTree:
    """The tree and the branch on screen, rebuilt from a conversation's records."""
    replayer = Replayer()
    for ev in records:
        replayer.apply(ev)
    return replayer.finish()
