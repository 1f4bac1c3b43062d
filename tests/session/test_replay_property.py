"""Property: whatever a user does — messages, replies streaming in, regenerations, forks at
any token, swipes, edits, clears — the conversation file replays to the same tree with the
same branch on screen. And every prefix of the file replays to the tree as it was then, so
a kill at any moment loses nothing that was recorded."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from playground.engine.types import StopReason
from playground.session.core import Session
from playground.session.store import replay_tree
from playground.session.turns import SIDES, OtherView
from tests.session.helpers import MemoryStore, event, finished, snapshot

WORDS = ["a", " b", "日", "🙂", "\n", " the"]

MESSAGES = st.sampled_from(["hi", "more", "日本"])
MODES = st.sampled_from(["chat", "document"])
SIDE = st.sampled_from(SIDES)
op = st.one_of(
    st.tuples(st.just("send"), MESSAGES, MODES),
    st.tuples(st.just("tokens"), SIDE, st.lists(st.sampled_from(WORDS), max_size=4)),
    st.tuples(st.just("finish"), SIDE, st.sampled_from(list(StopReason))),
    st.tuples(st.just("error"), SIDE, st.just("boom")),
    st.tuples(st.just("scores"), SIDE, st.integers(1, 9)),
    st.tuples(st.just("regenerate")),
    st.tuples(st.just("edit")),
    st.tuples(st.just("clear")),
    st.tuples(
        st.just("fork"),
        SIDE,
        st.integers(0, 50),
        st.integers(0, 50),
        st.lists(st.integers(0, 300), min_size=1, max_size=3),
    ),
    st.tuples(st.just("swipe"), SIDE, st.integers(0, 50), st.integers(-3, 3)),
)


def run(ops: list[tuple[Any, ...]]) -> tuple[Session, MemoryStore, list[dict[str, Any]]]:
    """Apply the ops to a new session; also snapshot the tree after each one, with the
    number of records then."""
    store = MemoryStore()
    session = Session(open_store=lambda: store)
    history = apply(session, store, ops)
    return session, store, history


def apply(session: Session, store: MemoryStore, ops: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    history: list[dict[str, Any]] = []
    for o in ops:
        name = o[0]
        if name == "send":
            session.mode = o[2]
            session.send(o[1])
        elif name in ("tokens", "finish", "error", "scores"):
            turn = session.transcripts[o[1]].last
            if turn is None:
                continue
            if name == "tokens":
                n = len(turn.events)
                session.add_tokens(turn, [event(n + i, 10 + i, w) for i, w in enumerate(o[2])])
            elif name == "finish":
                session.finish(turn, finished(len(turn.events), o[2]))
            elif name == "error":
                session.fail(turn, o[2])
            else:
                views = [OtherView(o[2], -1.0, (), "shifted") for _ in turn.events]
                session.set_scores(turn, views)
        elif name == "regenerate":
            session.regenerate()
        elif name == "edit":
            session.edit_last()
        elif name == "clear":
            session.clear()
        elif name == "fork":
            turns = session.transcripts[o[1]].turns
            if not turns:
                continue
            turn = turns[o[2] % len(turns)]
            session.fork(turn, o[3] % (len(turn.events) + 1), o[4], "pick")
        elif name == "swipe":
            turns = session.transcripts[o[1]].turns
            if turns:
                session.swipe(turns[o[2] % len(turns)], o[3])
        history.append({"records": len(store.lines), "tree": snapshot(session.tree)})
    return history


@settings(max_examples=150, deadline=None)
@given(st.lists(op, max_size=25))
def test_any_sequence_saved_and_replayed_gives_the_same_tree(ops: list[tuple[Any, ...]]) -> None:
    session, store, history = run(ops)
    assert snapshot(replay_tree(store.records())) == snapshot(session.tree)
    # a kill after any step: the file so far replays to the tree as it was then
    records = store.records()
    for step in history:
        assert snapshot(replay_tree(records[: step["records"]])) == step["tree"]


@settings(max_examples=60, deadline=None)
@given(st.lists(op, max_size=20), st.lists(op, max_size=10))
def test_resume_then_go_on_gives_the_same_tree_as_never_stopping(
    before: list[tuple[Any, ...]], after: list[tuple[Any, ...]]
) -> None:
    session, store, _ = run(before)
    resumed = Session()
    resumed_store = MemoryStore()
    resumed_store.lines = list(store.lines)
    resumed.resume(resumed_store.records(), resumed_store)
    assert snapshot(resumed.tree) == snapshot(session.tree)
    apply(session, store, after)
    apply(resumed, resumed_store, after)
    assert snapshot(resumed.tree) == snapshot(session.tree)
    assert snapshot(replay_tree(resumed_store.records())) == snapshot(session.tree)
    for side in SIDES:
        assert [t.id for t in resumed.transcripts[side].turns] == [
            t.id for t in session.transcripts[side].turns
        ]
