"""The session core hands out what runs — streams, forks, swaps, scorings — and takes the
results back; driven here directly on the tiny GGUF pair, with no Textual: each job runs in
this thread, its events go back to the session as the app's workers would hand them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from playground.engine.llama.model import LlamaModel
from playground.engine.types import Finished, TokenKind
from playground.session.core import Session
from playground.session.jobs import CallJob, Notice, StreamJob, WorkKind
from playground.session.store import replay_tree
from playground.session.turns import PromptToken, Turn
from tests.session.helpers import MemoryStore, snapshot
from tests.session.test_forking import CHATML_PROMPT
from tests.tiny_gguf import ALIGNED_REPLY, BASE_CYCLE, BOS, IM_END, TOKEN_ID


def prompt_tokens(model: LlamaModel, ids: list[int]) -> list[PromptToken]:
    vocab = model.vocab
    return [PromptToken(i, vocab.pieces[i], vocab.kind(i), vocab.is_special(i)) for i in ids]


@pytest.fixture
def session(tiny_base: LlamaModel, tiny_aligned: LlamaModel) -> Iterator[Session]:
    notices: list[Notice] = []
    store = MemoryStore()
    s = Session(open_store=lambda: store, notify=notices.append)
    s.model_ready("base", tiny_base, None, "none")
    s.model_ready("aligned", tiny_aligned, None, "chatml")
    s.max_tokens_override = 8
    s.notices = notices  # type: ignore[attr-defined]
    s.memory = store  # type: ignore[attr-defined]
    yield s


def run_stream(session: Session, job: StreamJob | None) -> Turn:
    """What the app's worker and message handlers do, in one thread."""
    assert job is not None
    turn = session.turn(job.work.node)  # type: ignore[arg-type]
    assert turn is not None
    for item in job.start(lambda: False):
        if isinstance(item, Finished):
            session.finish(turn, item)
        else:
            session.add_tokens(turn, [item])
    return turn


def run_calls(session: Session, jobs: list[CallJob]) -> None:
    for job in jobs:
        assert job.work.kind is WorkKind.SCORE
        turn = session.turn(job.work.node)  # type: ignore[arg-type]
        assert turn is not None
        views, analysis = job.call()
        session.set_scores(turn, views, analysis)


def first_exchange(session: Session) -> dict[str, Turn]:
    turns = session.send("Hello")
    prompts = {"base": [BOS, TOKEN_ID["Hello"]], "aligned": CHATML_PROMPT}
    for side, turn in turns.items():
        model = session.models[side]
        assert model is not None
        session.set_prompt(turn, "t", "text", prompt_tokens(model, prompts[side]))  # type: ignore[arg-type]
        run_stream(session, session.stream_job(turn, prompts[side]))
    return turns


def test_a_turn_streams_and_both_replies_are_scored_once(session: Session) -> None:
    turns = first_exchange(session)
    assert [e.id for e in turns["aligned"].events] == [*ALIGNED_REPLY[:8]]
    assert [e.id for e in turns["base"].events] == [*BASE_CYCLE, *BASE_CYCLE[:2]]
    jobs = session.score_jobs(turns["aligned"])
    assert sorted(j.work.side for j in jobs) == ["aligned", "base"]
    assert session.score_jobs(turns["base"]) == []  # handed out once
    run_calls(session, jobs)
    assert len(turns["aligned"].other) == 8 and turns["aligned"].other[0] is not None


def test_fork_job_on_the_tiny_pair(session: Session) -> None:
    session.max_tokens_override = 24
    turns = first_exchange(session)
    original = turns["aligned"]
    before = [e.id for e in original.events]
    # force "!" at #4 (where the model said 日): the reply chain goes on from "!"
    branch = run_stream(session, session.fork_job(original, 4, [ALIGNED_REPLY[2]], "pick"))
    assert session.transcripts["aligned"].last is branch
    assert [e.id for e in branch.events[:4]] == before[:4]
    assert branch.events[4].id == ALIGNED_REPLY[2] and 4 in branch.forced
    assert [e.id for e in branch.events[5:]] == [*ALIGNED_REPLY[3:], IM_END]
    assert branch.events[4].prob_after == 1.0 and branch.events[4].prob < 0.5
    assert [e.id for e in original.events] == before
    assert session.tree.siblings(branch) == [original, branch]
    # scored against the other side's reply at the same point, once it is finished
    run_calls(session, session.score_jobs(branch))
    assert len(branch.other) == len(branch.events)
    # and the file replays to the same tree
    assert snapshot(replay_tree(session.memory.records())) == snapshot(session.tree)  # type: ignore[attr-defined]


def test_swap_job_and_typed_fork(session: Session) -> None:
    turns = first_exchange(session)
    base = turns["base"]
    swapped = run_stream(session, session.swap_job(base, 1))
    # the aligned reply's #1 is " world": outside the base cycle, " the cat ..." follows
    assert [e.id for e in swapped.events] == [
        BASE_CYCLE[0],
        TOKEN_ID["\u2581world"],
        *BASE_CYCLE[:6],
    ]
    assert swapped.forced[1].source == "swap" and swapped.forced[1].from_side == "aligned"
    typed = run_stream(session, session.typed_fork_job(turns["aligned"], 0, "Hello world"))
    assert [e.id for e in typed.events[:2]] == [TOKEN_ID["Hello"], TOKEN_ID["\u2581world"]]
    assert set(typed.forced) == {0, 1} and "2 tokens" in typed.forced[0].note
    assert [e.id for e in typed.events[2:]] == list(ALIGNED_REPLY[2:8])


def test_what_cannot_be_done_says_why(session: Session) -> None:
    turns = first_exchange(session)
    notices: list[Notice] = session.notices  # type: ignore[attr-defined]
    assert session.swap_job(turns["base"], 50) is None
    assert "no token #50" in notices[-1].message
    assert session.typed_fork_job(turns["base"], 0, "") is None
    assert "type the token" in notices[-1].message
    session.models["base"] = None
    assert session.fork_job(turns["base"], 0, [1], "pick") is None
    assert "no model is loaded" in notices[-1].message
    # a turn on a side without a model fails in place, with the load error
    session.load_failed("base", "broken.gguf is not a GGUF")
    again = session.send("more")
    assert session.stream_job(again["base"], [BOS]) is None
    assert again["base"].error == "broken.gguf is not a GGUF"


def test_stop_ends_a_stream_within_a_token_and_keeps_the_reply(session: Session) -> None:
    session.max_tokens_override = 200
    turns = session.send("Hello")
    base = turns["base"]
    job = session.stream_job(base, [BOS, TOKEN_ID["Hello"]])
    assert job is not None
    for item in job.start(lambda: False):
        if isinstance(item, Finished):
            session.finish(base, item)
            break
        session.add_tokens(base, [item])
        if len(base.events) == 3:
            session.stop()
    assert base.reason == "cancelled" and len(base.events) == 3
    # a new stream on a side stops the one before it
    first = session.stream_job(base, [BOS])
    second = session.stream_job(base, [BOS])
    assert first is not None and first.stopped and second is not None and not second.stopped


def test_the_kind_of_a_forced_byte_token_and_its_text(session: Session) -> None:
    """Forcing the first byte of 日本's 本 keeps the text whole once the rest follows."""
    session.max_tokens_override = 24
    turns = first_exchange(session)
    original = turns["aligned"]
    k = 5  # the first of 本's three byte tokens
    assert session.models["aligned"].vocab.kind(original.events[k].id) == TokenKind.BYTE  # type: ignore[union-attr]
    branch = run_stream(session, session.fork_job(original, k, [original.events[k].id], "pick"))
    assert branch.reply_text == original.reply_text
