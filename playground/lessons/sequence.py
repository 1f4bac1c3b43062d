"""Lesson 1: a conversation is one token sequence.

The same two-turn conversation is laid out the way Tiktokenizer shows GPT-4o's (tokenized
with o200k_base and the chat tokens), then in each loaded model's own template and
tokenizer. Special tokens are marked, each is looked up in every vocabulary, and the base
model reads the conversation in its family's chat layout (the one whose tokens its
vocabulary has, e.g. Gemma's turn tokens) to show how much probability it
ever puts on those tokens.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import numpy as np

from playground.engine.topk import FloatArray
from playground.lessons.base import Lesson, RunOptions
from playground.lessons.figures import (
    Bilingual,
    Figure,
    LessonResult,
    StripToken,
    Table,
    TokenStrip,
)
from playground.lessons.pair import SIDES, LessonPair, Side, Steps, render_prompt
from playground.templates.base import Message
from playground.templates.builtin import builtin_templates
from playground.templates.tokenview import (
    LlamaTokenizer,
    TiktokenTokenizer,
    TokenView,
    inspect_tokens,
    tiktoken_tokenizer,
)

CONVERSATION: tuple[Message, ...] = (
    {"role": "user", "content": "What is 2+2?"},
    {"role": "assistant", "content": "2+2 = 4"},
    {"role": "user", "content": "What if it was *?"},
    {"role": "assistant", "content": "2*2 = 4, same as 2+2!"},
)
ENCODING = "o200k_base"
GPT4O_TEMPLATE = "gpt4o"
ENOUGH_P = 1e-3
"""A probability the base model 'puts on' a token: at least 0.1% somewhere."""

TITLE = Bilingual("A conversation is one token sequence", "一段对话就是一个词元序列")
CLAIM = Bilingual(
    "Roles and turns are nothing but special tokens inside one flat sequence.",
    "角色和轮次不过是同一个扁平序列里的特殊词元。",
)
EXPLANATION = Bilingual(
    "Look at the strips: each turn is wrapped in special tokens (marked), and the whole "
    "conversation, both turns and the prompt for the next reply, is one row of token ids. "
    "Tiktokenizer shows it in GPT-4o's layout under o200k_base as 52 tokens: 49 for the "
    "four messages plus 3 for the `<|im_start|>assistant<|im_sep|>` it appends for the next "
    "reply, the count the first row reproduces. Each model wraps the same words in its "
    "own tokens; a base model that never saw those tokens in training puts almost no "
    "probability on them, which is why it cannot end a turn the way a chat model does.",
    "看词元条：每一轮都被特殊词元（已标出）包住，整段对话——两轮问答加上下一轮回复的提示——"
    "就是一行词元编号。Tiktokenizer 以 GPT-4o 的格式、o200k_base 编码显示为 52 个词元："
    "四条消息 49 个，加上它为下一轮回复追加的 `<|im_start|>assistant<|im_sep|>` 3 个，"
    "第一行复现了这个数字。每个模型用自己的特殊词元包住同样的文字；"
    "训练中从未见过这些词元的基座模型几乎不给它们任何概率，所以它无法像对话模型那样结束一轮。",
)
PUBLISHED_TIKTOKENIZER_COUNT = 52
"""Tiktokenizer's count for CONVERSATION in GPT-4o's layout: its ChatGPTEditor always appends
the generation prompt `<|im_start|>assistant<|im_sep|>` (3 tokens) to the messages (49)."""
MESSAGES_ONLY_COUNT = 49


def _strip(view: TokenView, title: Bilingual) -> TokenStrip:
    return TokenStrip(
        title,
        tuple(
            StripToken(t.shown, "special" if t.special else "", f"id {t.id}") for t in view.tokens
        ),
        tags=(("special", Bilingual("special token", "特殊词元")),),
    )


def _special_ids(pair: LessonPair, side: Side, text: str) -> list[int]:
    vocab = pair.model(side).vocab
    return [i for i in vocab.ids_of_piece(text.encode("utf-8")) if vocab.is_special(i)]


class _MaxProb:
    """The highest probability the model gives each watched token over all positions."""

    def __init__(self, ids: Sequence[int]) -> None:
        self.ids = np.asarray(list(ids), dtype=np.int64)
        self.best = np.zeros(len(self.ids), dtype=np.float64)

    def hook(self, index: int, logits: FloatArray, lse: float) -> None:
        if len(self.ids):
            p = np.exp(logits[self.ids].astype(np.float64) - lse)
            np.maximum(self.best, p, out=self.best)


def run(pair: LessonPair, options: RunOptions) -> LessonResult:
    t0 = time.perf_counter()
    steps = Steps(4, options.progress, options.cancel)
    views: list[tuple[str, str, str, TokenView]] = []

    steps.start(f"GPT-4o layout under {ENCODING}")
    gpt4o = builtin_templates()[GPT4O_TEMPLATE]
    tiktok: TiktokenTokenizer = tiktoken_tokenizer(ENCODING)
    text = gpt4o.render(CONVERSATION, True, "", "")
    views.append(("GPT-4o", GPT4O_TEMPLATE, ENCODING, inspect_tokens(text, tiktok, template=gpt4o)))
    steps.finish()

    prompts = {}
    for side in SIDES:
        steps.start(f"{pair.name(side)}: its own template and tokenizer")
        prompt = render_prompt(pair, side, CONVERSATION)
        prompts[side] = prompt
        tok = LlamaTokenizer(pair.model(side))
        view = inspect_tokens(prompt.text, tok, template=pair.template(side), add_bos=None)
        views.append((pair.name(side), prompt.template, pair.name(side), view))
        steps.finish()

    # Every special token that appears in any of the three sequences, plus each model's
    # own end of turn, looked up in every vocabulary.
    names: list[str] = []
    for _, _, _, view in views:
        for t in view.tokens:
            if t.special:
                names.append(t.piece.decode("utf-8", "replace"))
    for side in SIDES:
        vocab = pair.model(side).vocab
        for tok_id in (vocab.eot, vocab.eos):
            if tok_id is not None:
                names.append(vocab.pieces[tok_id].decode("utf-8", "replace"))
    names = list(dict.fromkeys(n for n in names if n))

    # The family's chat layout ('default': the GGUF's own, else by architecture and
    # vocabulary) is where the base model's own chat tokens appear, if it has any.
    steps.start(f"{pair.name('base')} reads the conversation in its family's chat layout")
    chat_layout = render_prompt(pair, "base", CONVERSATION, template="default")
    watched: list[int] = []
    for n in names:
        watched.extend(_special_ids(pair, "base", n))
    watched = list(dict.fromkeys(watched))
    probe = _MaxProb(watched)
    ids = chat_layout.ids
    # Reading probabilities of arbitrary tokens needs every position's full distribution.
    no_rows = pair.base.capabilities.why_not("logit_rows")
    if len(ids) > 1 and no_rows is None:
        pair.base.score(ids[:1], ids[1:], top_k=1, row_hook=probe.hook)
    best = {int(i): float(p) for i, p in zip(probe.ids, probe.best, strict=True)}
    steps.finish()

    rows = []
    data_specials = []
    for n in names:
        in_tik = tiktok.special_id(n) is not None
        base_ids = _special_ids(pair, "base", n)
        aligned_ids = _special_ids(pair, "aligned", n)
        p = max((best.get(i, 0.0) for i in base_ids), default=None)
        if no_rows is not None:
            p = None
        rows.append(
            (
                n,
                "yes" if in_tik else "no",
                "yes" if base_ids else "no",
                "yes" if aligned_ids else "no",
                "-" if p is None else _fmt_p(p),
                "-" if p is None else ("yes" if p >= ENOUGH_P else "no"),
            )
        )
        data_specials.append(
            {
                "token": n,
                "in_o200k": in_tik,
                "in_base": bool(base_ids),
                "in_aligned": bool(aligned_ids),
                "base_max_p": p,
            }
        )

    count_rows = tuple(
        (who, tpl, tokzr, str(v.count), str(sum(1 for t in v.tokens if t.special)))
        for who, tpl, tokzr, v in views
    )
    figures: tuple[Figure, ...] = (
        Table(
            Bilingual("One conversation, three token sequences", "同一段对话，三种词元序列"),
            (
                Bilingual("layout of", "布局"),
                Bilingual("template", "模板"),
                Bilingual("tokenizer", "分词器"),
                Bilingual("tokens", "词元数"),
                Bilingual("special", "特殊词元"),
            ),
            count_rows,
        ),
        *(
            _strip(v, Bilingual(f"{who} ({tpl}, {tokzr})", f"{who}（{tpl}，{tokzr}）"))
            for who, tpl, tokzr, v in views
        ),
        Table(
            Bilingual(
                "Special tokens: in which vocabulary, and does the base model predict them?",
                "特殊词元：在哪个词表里，基座模型会预测它们吗？",
            ),
            (
                "token",
                ENCODING,
                pair.name("base"),
                pair.name("aligned"),
                "base max p",
                f"base p ≥ {ENOUGH_P:g}",
            ),
            tuple(rows),
        ),
    )
    tik_count = views[0][3].count
    finding = Bilingual(
        f"Under {ENCODING} the conversation is {tik_count} tokens (Tiktokenizer shows "
        f"{PUBLISHED_TIKTOKENIZER_COUNT}); {pair.name('base')} makes it "
        f"{views[1][3].count} and {pair.name('aligned')} {views[2][3].count}.",
        f"在 {ENCODING} 下这段对话是 {tik_count} 个词元（Tiktokenizer 显示 "
        f"{PUBLISHED_TIKTOKENIZER_COUNT} 个）；{pair.name('base')} 是 {views[1][3].count} 个，"
        f"{pair.name('aligned')} 是 {views[2][3].count} 个。",
    )
    return LESSON.result(
        pair,
        finding=finding,
        figures=figures,
        setup=(
            ("conversation", " / ".join(m["content"] for m in CONVERSATION)),
            ("base template", prompts["base"].template),
            ("aligned template", prompts["aligned"].template),
            ("base reads", f"the conversation in the {chat_layout.template} layout"),
        ),
        notes=(
            ()
            if no_rows is None
            else (
                Bilingual(
                    f"The base model's probabilities are not shown: {no_rows}.",
                    f"未显示基座模型的概率：{no_rows}。",
                ),
            )
        ),
        elapsed_s=time.perf_counter() - t0,
        data={
            "counts": {who: v.count for who, _, _, v in views},
            "tiktoken_count": tik_count,
            "published_count": PUBLISHED_TIKTOKENIZER_COUNT,
            "ids": {who: v.ids for who, _, _, v in views},
            "specials": data_specials,
        },
    )


def _fmt_p(p: float) -> str:
    if p <= 0.0:
        return "0"
    if p >= 0.01:
        return f"{p:.2f}"
    return f"1e{math.floor(math.log10(p))}"


LESSON = Lesson(
    name="sequence",
    number=1,
    title=TITLE,
    claim=CLAIM,
    explanation=EXPLANATION,
    run=run,
)
