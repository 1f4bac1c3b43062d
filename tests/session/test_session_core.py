"""The session core on its own: the conversation tree, swipes, forks and the records that save
them, driven directly, with no Textual and no model."""

from __future__ import annotations

import pytest

from playground.engine.types import StopReason
from playground.session.core import Session
from playground.session.store import replay_tree
from tests.session.helpers import MemoryStore, event, finished, snapshot


def new_session() -> tuple[Session, MemoryStore]:
    store = MemoryStore()
    return Session(open_store=lambda: store), store


def reply(session: Session, side: str, words: list[str]) -> None:
    turn = session.transcripts[side].last
    assert turn is not None
    session.add_tokens(turn, [event(i, 100 + i, w) for i, w in enumerate(words)])
    session.finish(turn, finished(len(words), text="".join(words)))


def test_send_adds_one_turn_per_side_after_the_branch_on_screen() -> None:
    session, _ = new_session()
    first = session.send("hi")
    second = session.send("more")
    for side in ("base", "aligned"):
        assert [t.user for t in session.transcripts[side].turns] == ["hi", "more"]
        assert second[side].parent == first[side].id
    assert first["base"].exchange == first["aligned"].exchange != second["base"].exchange


def test_regenerate_keeps_the_old_reply_as_a_sibling_and_swipes_between_them() -> None:
    session, _ = new_session()
    session.send("hi")
    reply(session, "aligned", ["Hello", " there"])
    old = session.transcripts["aligned"].last
    new = session.regenerate()["aligned"]
    assert session.transcripts["aligned"].last is new and new.events == []
    assert [t.id for t in session.tree.siblings(new)] == [old.id, new.id]  # type: ignore[union-attr]
    place = session.tree.place(new)
    assert (place.index, place.count) == (1, 2)
    shown = session.swipe(new, -1)
    assert shown is old and session.transcripts["aligned"].last is old
    assert session.transcripts["aligned"].last.reply_text == "Hello there"  # type: ignore[union-attr]
    assert session.swipe(old, 1) is new  # and back: swipes wrap


def test_a_swipe_keeps_the_choices_below_it() -> None:
    session, _ = new_session()
    session.send("one")
    a1 = session.transcripts["base"].last
    session.send("two")
    under_a1 = session.transcripts["base"].last
    assert a1 is not None and under_a1 is not None
    session.edit_last()
    session.send("two, edited")
    edited = session.transcripts["base"].last
    assert edited is not None and edited.parent == a1.id
    assert [t.user for t in session.transcripts["base"].turns] == ["one", "two, edited"]
    session.swipe(edited, 1)  # back to the first version of message two
    assert [t.user for t in session.transcripts["base"].turns] == ["one", "two"]
    # the aligned side moved on its own: its branch is unchanged
    assert [t.user for t in session.transcripts["aligned"].turns] == ["one", "two, edited"]


def test_fork_keeps_the_prefix_marks_the_forced_token_and_keeps_the_original() -> None:
    session, store = new_session()
    session.send("hi")
    reply(session, "base", ["a", "b", "c", "d"])
    original = session.transcripts["base"].last
    assert original is not None
    fork = session.fork(original, 2, [777], "pick")
    assert session.transcripts["base"].last is fork
    assert [e.text for e in fork.events] == ["a", "b"]
    assert fork.forced[2].source == "pick" and 2 in fork.forced and 1 not in fork.forced
    assert [e.text for e in original.events] == ["a", "b", "c", "d"]  # intact
    assert session.tree.siblings(fork) == [original, fork]
    # the other side's branch did not move
    assert session.transcripts["aligned"].last is not None
    assert session.transcripts["aligned"].last.fork is None
    with pytest.raises(ValueError, match="no token 9"):
        session.fork(original, 9, [1], "pick")
    # the file says where the fork came from and which token was forced
    node = [r for r in store.records() if r["type"] == "node"][-1]
    assert node["fork"] == {"from": original.id, "at": 2}
    assert node["forced"] == {"2": ["pick", None, ""]}


def test_clear_and_edit_cut_the_branch_but_the_file_keeps_every_turn() -> None:
    session, store = new_session()
    session.send("hi")
    reply(session, "aligned", ["x"])
    session.clear()
    assert session.transcripts["aligned"].turns == []
    assert len(session.tree.turns) == 2
    session.send("again")
    tree = replay_tree(store.records())
    assert [t.user for t in tree.path("aligned")] == ["again"]
    assert sorted(t.user for t in tree.turns.values()) == ["again", "again", "hi", "hi"]


def test_resume_restores_the_tree_and_the_branch_on_screen() -> None:
    session, store = new_session()
    session.send("hi")
    reply(session, "aligned", ["one"])
    first = session.transcripts["aligned"].last
    session.regenerate()
    reply(session, "aligned", ["two"])
    assert first is not None
    session.swipe(first, 0)
    session.swipe(session.transcripts["aligned"].last, -1)  # type: ignore[arg-type]
    assert session.transcripts["aligned"].last.reply_text == "one"  # type: ignore[union-attr]
    again = Session()
    again.resume(store.records(), store)
    assert snapshot(again.tree) == snapshot(session.tree)
    assert again.transcripts["aligned"].last.reply_text == "one"  # type: ignore[union-attr]
    # and it goes on in the same file: a regeneration after resume is a third sibling
    again.regenerate()
    assert len(again.tree.siblings(again.transcripts["aligned"].last)) == 3  # type: ignore[arg-type]
    assert snapshot(replay_tree(store.records())) == snapshot(again.tree)


def test_a_reply_cut_off_by_a_kill_comes_back_stopped() -> None:
    session, store = new_session()
    session.send("hi")
    turn = session.transcripts["base"].last
    assert turn is not None
    session.add_tokens(turn, [event(0, 5, "half")])
    tree = replay_tree(store.records())
    replayed = tree.path("base")[-1]
    assert replayed.reason == "cancelled" and replayed.reply_text == "half"


def test_files_from_before_the_tree_still_replay() -> None:
    records = [
        {"type": "meta"},
        {"type": "user", "text": "hi", "mode": "chat"},
        {"type": "tokens", "side": "base", "turn": 0, "tokens": []},
        {"type": "finish", "side": "base", "turn": 0, "reason": "eog", "tokens": 0,
         "elapsed_s": 0.1, "prompt_tokens": 2, "reused_tokens": 0},
        {"type": "user", "text": "dropped", "mode": "chat"},
        {"type": "drop_last"},
        {"type": "user", "text": "again", "mode": "chat"},
    ]  # fmt: skip
    tree = replay_tree(records)
    for side in ("base", "aligned"):
        assert [t.user for t in tree.path(side)] == ["hi", "again"]
    assert tree.path("base")[0].reason == "eog"
    # the dropped message is still there, a sibling of the one sent after it
    again = tree.path("base")[1]
    assert [t.user for t in tree.siblings(again)] == ["dropped", "again"]


def test_damaged_records_are_skipped_and_the_rest_replays() -> None:
    session, store = new_session()
    session.send("hi")
    reply(session, "base", ["ok"])
    records = store.records()
    damaged = [
        records[0],
        {"type": "tokens", "node": 999, "tokens": []},
        {"type": "node", "side": "base"},
        {"type": "select", "side": "base", "parent": None, "node": 12345},
        *records[1:],
    ]
    assert snapshot(replay_tree(damaged)) == snapshot(replay_tree(records))


def test_partner_is_the_other_sides_turn_at_the_same_depth() -> None:
    session, _ = new_session()
    turns = session.send("hi")
    assert session.tree.partner(turns["base"]) is turns["aligned"]
    session.send("two")
    fork = session.fork(turns["base"], 0, [1], "typed")
    assert session.tree.partner(fork) is turns["aligned"]


def test_finish_and_error_are_recorded_by_turn() -> None:
    session, store = new_session()
    turns = session.send("hi")
    session.fail(turns["base"], "template broke")
    session.finish(turns["aligned"], finished(0, StopReason.EOG))
    tree = replay_tree(store.records())
    assert tree.path("base")[0].error == "template broke"
    assert tree.path("aligned")[0].reason == "eog"
