"""A one-file HTML report of a comparison that a teacher can hand out.

Everything is inline (CSS, JS, the SVG plot); the page loads nothing from the network and
uses only system fonts. Token pieces are model output and can contain anything, `<script>`
included: the markup escapes every piece with `html.escape`, the per-token data travels as
JSON inside a `<script type="application/json">` with `<`, `>` and `&` escaped, and the
script builds the detail view with `textContent` only, never `innerHTML`.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from playground.analysis.compare import Comparison, piece_text
from playground.analysis.shift import ShiftAnalysis, ShiftClass, TokenShift

CLASS_NOTE = (
    "Each token of the reply is ranked in the other model's next-token distribution, over "
    "its whole vocabulary, given the other model's own prompt and the reply so far "
    "(URIAL, Lin et al. 2023). Unshifted: rank 1, the other model would have picked it too. "
    "Marginal: rank 2 or 3. Shifted: rank 4 or worse. KL is KL(producer || scorer) of the "
    "two next-token distributions at that position."
)
CROSS_VOCAB_NOTE = (
    "The two models have different vocabularies, so the reply text was re-tokenized by the "
    "scoring model and each token was paired with the scoring token that starts at the same "
    "byte offset. Where the two tokenizations split the text differently (dotted underline), "
    "the rank and probability shown are those of the scoring model's token that starts there "
    "or covers that offset: an approximation. The end-of-turn token is mapped to the scoring "
    "model's own end-of-turn token. KL is not defined across vocabularies."
)

_CSS = """
:root{--un:#d9f2d9;--ma:#ffe9a8;--sh:#ffb3b3;--ink:#1d1d1f;--mute:#5f6368}
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);
max-width:980px;margin:1.5em auto;padding:0 1em;line-height:1.45}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
pre,.mono,.reply{font-family:ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace}
pre{background:#f6f6f6;padding:.6em;white-space:pre-wrap;word-break:break-word}
.reply{white-space:pre-wrap;word-break:break-word;background:#fafafa;padding:.6em;
border:1px solid #ddd;line-height:1.9}
.tok{border-radius:3px;padding:1px 0;cursor:default}
.tok:focus,.tok.sel{outline:2px solid #1a57d6;outline-offset:1px}
.unshifted{background:var(--un)}.marginal{background:var(--ma)}.shifted{background:var(--sh)}
.approx{text-decoration:underline dotted #333}
.forced{outline:2px solid #0aa;outline-offset:-1px}
.special{border:1px solid #888;font-size:.85em;padding:0 2px}
.bar{display:flex;height:1.6em;border:1px solid #999;margin:.4em 0}
.bar div{height:100%;font-size:.8em;display:flex;align-items:center;justify-content:center;
overflow:hidden;white-space:nowrap}
.detail{position:sticky;top:0;background:#fff;border:1px solid #bbb;padding:.5em;
min-height:7em;margin:.6em 0;z-index:1}
.cols{display:flex;gap:1.5em;flex-wrap:wrap}
table{border-collapse:collapse;font-size:.9em}td,th{padding:1px 6px;text-align:left}
tr.hit td{font-weight:bold;background:#eef}tr.differs td{background:#fff3c4}
.note{color:var(--mute);font-size:.92em}
.legend span{padding:0 .5em;margin-right:.5em}
"""

_JS = """
(function(){
function fmt(lp){if(lp===null||lp===undefined)return'-';var p=Math.exp(lp);
return (p*100).toFixed(p<0.001?4:1)+'%';}
function table(title,rows,hit){var t=document.createElement('table');
var c=document.createElement('caption');c.textContent=title;t.appendChild(c);
rows.forEach(function(r,i){var tr=document.createElement('tr');if(r[0]===hit)tr.className='hit';
[String(i+1),JSON.stringify(r[1]),fmt(r[2])].forEach(function(x){
var td=document.createElement('td');td.textContent=x;tr.appendChild(td);});
t.appendChild(tr);});return t;}
function show(sec,i){var data=JSON.parse(document.getElementById('data-'+sec).textContent);
var t=data.tokens[i],d=document.getElementById('detail-'+sec);
document.querySelectorAll('.tok.sel').forEach(function(e){e.classList.remove('sel');});
var el=document.getElementById('t-'+sec+'-'+i);if(el)el.classList.add('sel');
while(d.firstChild)d.removeChild(d.firstChild);
var h=document.createElement('div');h.className='head';
h.textContent='#'+i+' '+JSON.stringify(t.piece)+' \\u2014 '+t.cls+', rank '+t.rank+' under '
+data.scorer+(t.approx?' (approximate: paired with '+JSON.stringify(t.opiece)+')':'')
+'; p('+data.producer+') = '+fmt(t.plp)+', p('+data.scorer+') = '+fmt(t.olp)
+(t.kl===null?'':', KL = '+t.kl.toFixed(3))
+(t.forced?'; FORCED ('+t.forced+'), p before forcing = '+fmt(t.plp):'');
d.appendChild(h);var cols=document.createElement('div');cols.className='cols';
cols.appendChild(table(data.producer+' top-'+t.ptop.length,t.ptop,t.id));
cols.appendChild(table(data.scorer+' top-'+t.otop.length,t.otop,t.oid));
d.appendChild(cols);}
document.querySelectorAll('.tokens').forEach(function(box){var sec=box.getAttribute('data-sec');
function on(ev){var e=ev.target.closest?ev.target.closest('.tok'):null;
if(e)show(sec,+e.getAttribute('data-i'));}
box.addEventListener('mouseover',on);box.addEventListener('focusin',on);});
})();
"""


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _json_script(value: Any) -> str:
    """JSON that cannot end its <script> element or open a comment."""
    raw = json.dumps(value, ensure_ascii=True, allow_nan=False)
    return raw.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _lp(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else round(x, 5)


def _top(entries: Any) -> list[list[Any]]:
    return [[e.id, piece_text(e.piece), _lp(e.logprob)] for e in entries]


def _rank_note(a: ShiftAnalysis) -> str:
    if all(t.other_rank_exact for t in a.tokens):
        return "exact"
    return (
        "exact within the scorer's top-k, and shown as >k beyond it (its backend has no "
        "full-vocabulary ranks)"
    )


def _kl_note(a: ShiftAnalysis) -> str:
    if a.kl_method:
        return a.kl_method
    if a.kl_unavailable:
        return f"not available ({a.kl_unavailable})"
    return "not computed"


def _token_data(t: TokenShift) -> dict[str, Any]:
    return {
        "piece": piece_text(t.piece),
        "id": t.id,
        "oid": t.other_id,
        "opiece": piece_text(t.other_piece),
        "cls": t.shift.value,
        "rank": t.other_rank_text,
        "plp": _lp(t.producer_logprob),
        "olp": _lp(t.other_logprob),
        "kl": _lp(t.kl),
        "approx": t.approximate,
        "ptop": _top(t.producer_top),
        "otop": _top(t.other_top),
    }


def _summary_bar(a: ShiftAnalysis) -> str:
    s = a.summary
    parts = []
    for cls in ShiftClass:
        r = s.ratio(cls)
        count = {"unshifted": s.unshifted, "marginal": s.marginal, "shifted": s.shifted}[cls]
        parts.append(
            f'<div class="{cls.value}" style="width:{r * 100:.3f}%" '
            f'title="{cls.value}: {count}">{count if r > 0.04 else ""}</div>'
        )
    text = (
        f"{s.total} tokens: {s.unshifted} unshifted ({s.ratio(ShiftClass.UNSHIFTED):.1%}), "
        f"{s.marginal} marginal ({s.ratio(ShiftClass.MARGINAL):.1%}), "
        f"{s.shifted} shifted ({s.shifted_ratio:.1%})"
    )
    if s.approximate:
        text += f"; {s.approximate} approximate (tokenizations differ)"
    if s.mean_kl is not None:
        text += f"; mean KL {s.mean_kl:.3f} ({a.kl_method})"
    return f'<div class="bar" role="img" aria-label="{_esc(text)}">{"".join(parts)}</div>' + (
        f'<p class="summary">{_esc(text)}</p>'
    )


def _plot(a: ShiftAnalysis) -> str:
    """Rank per position on a log scale, coloured by class, with the rank-4 threshold."""
    n = len(a.tokens)
    w, h, pad, left = 900, 180, 30, 56
    if n == 0:
        return "<p>(empty reply)</p>"
    max_rank = max(t.other_rank for t in a.tokens)
    top = max(1.0, math.log10(max(max_rank, 10)))
    colors = {"unshifted": "#4caf50", "marginal": "#e0a800", "shifted": "#e53935"}
    bw = (w - left - pad) / n
    bars = []
    for t in a.tokens:
        y = math.log10(t.other_rank) / top * (h - 2 * pad)
        x = left + t.index * bw
        title = f"#{t.index} {piece_text(t.piece)!r}: rank {t.other_rank_text} ({t.shift.value})"
        bars.append(
            f'<rect x="{x:.2f}" y="{h - pad - max(y, 1.5):.2f}" width="{max(bw - 0.5, 0.5):.2f}" '
            f'height="{max(y, 1.5):.2f}" fill="{colors[t.shift.value]}">'
            f"<title>{_esc(title)}</title></rect>"
        )
    y4 = h - pad - math.log10(4) / top * (h - 2 * pad)
    ticks = []
    for k in range(int(top) + 1):
        yk = h - pad - k / top * (h - 2 * pad)
        ticks.append(
            f'<text x="{left - 6}" y="{yk + 4:.1f}" font-size="10" text-anchor="end">{10**k}</text>'
        )
    label = "rank under the scoring model (log scale) by position in the reply"
    return (
        f'<svg class="plot" viewBox="0 0 {w} {h}" width="100%" role="img" '
        f'aria-label="{label}" xmlns="http://www.w3.org/2000/svg">'
        f'<line x1="{left}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" stroke="#333"/>'
        f'<line x1="{left}" y1="{y4:.1f}" x2="{w - pad}" y2="{y4:.1f}" stroke="#e53935" '
        f'stroke-dasharray="4 3"/><text x="{w - pad}" y="{y4 - 3:.1f}" font-size="10" '
        f'text-anchor="end">rank 4: shifted above</text>'
        + "".join(ticks)
        + "".join(bars)
        + f'<text x="{w / 2}" y="{h - 8}" font-size="11" text-anchor="middle">'
        f"position in the reply (0 to {n - 1})</text></svg>"
    )


def _deciles(a: ShiftAnalysis) -> str:
    rows = "".join(
        f"<tr><td>{i * 10}-{i * 10 + 10}%</td><td>{u}</td><td>{m}</td><td>{s}</td></tr>"
        for i, (u, m, s) in enumerate(a.summary.by_decile)
    )
    return (
        "<table class=deciles><tr><th>part of reply</th><th>unshifted</th><th>marginal</th>"
        f"<th>shifted</th></tr>{rows}</table>"
    )


def _tokens(a: ShiftAnalysis, sec: int, forced: Mapping[int, str]) -> str:
    out = []
    for t in a.tokens:
        cls = [t.shift.value, "tok"]
        if t.approximate:
            cls.append("approx")
        if t.special:
            cls.append("special")
        title = ""
        if t.index in forced:
            cls.append("forced")
            p = math.exp(t.producer_logprob) if t.producer_logprob is not None else None
            before = f", p before forcing {p:.4f}" if p is not None else ""
            title = f' title="forced ({_esc(forced[t.index])}){before}"'
        out.append(
            f'<span id="t-{sec}-{t.index}" class="{" ".join(cls)}" tabindex="0" '
            f'data-i="{t.index}"{title}>{_esc(piece_text(t.piece))}</span>'
        )
    return "".join(out)


def _forced_list(a: ShiftAnalysis, forced: Mapping[int, str]) -> str:
    """The tokens the user chose in this reply, with the model's probability before."""
    if not forced:
        return ""
    items = []
    for t in a.tokens:
        if t.index in forced:
            p = math.exp(t.producer_logprob) if t.producer_logprob is not None else None
            before = f"p before forcing {p:.4f}" if p is not None else "p unknown"
            items.append(
                f"<li>#{t.index} <span class=mono>{_esc(repr(piece_text(t.piece)))}</span>: "
                f"{_esc(forced[t.index])}, {before}</li>"
            )
    return (
        "<h3>Forced tokens</h3><p class=note>Chosen by the user (a fork or a swap), not "
        f"sampled; the model went on from them.</p><ul>{''.join(items)}</ul>"
    )


def _most_shifted(a: ShiftAnalysis) -> str:
    if not a.summary.most_shifted:
        return "<p>No shifted tokens.</p>"
    items = []
    for i in a.summary.most_shifted:
        t = a.tokens[i]
        items.append(
            f"<li><span class=mono>{_esc(repr(piece_text(t.piece)))}</span> at #{i}: rank "
            f"{t.other_rank_text}, top choice there "
            f"<span class=mono>{_esc(repr(piece_text(t.other_top[0].piece)))}</span></li>"
            if t.other_top
            else f"<li>#{i}: rank {t.other_rank_text}</li>"
        )
    return "<ol>" + "".join(items) + "</ol>"


def _section(
    a: ShiftAnalysis,
    sec: int,
    producer: str,
    scorer: str,
    title: str,
    forced: Mapping[int, str] | None = None,
) -> str:
    forced = forced or {}
    data = {
        "producer": producer,
        "scorer": scorer,
        "tokens": [{**_token_data(t), "forced": forced.get(t.index)} for t in a.tokens],
    }
    vocab_note = (
        f'<p class="note"><b>Approximation.</b> {_esc(CROSS_VOCAB_NOTE)}</p>'
        if a.vocab != "shared"
        else f'<p class="note">Shared vocabulary: ranks are {_rank_note(a)}, by token id. KL: '
        f"{_esc(_kl_note(a))}.</p>"
    )
    return (
        f"<section><h2>{_esc(title)}</h2>{_summary_bar(a)}{vocab_note}"
        f'<p class="note">Hover over a token, or focus it with Tab, to see both top-k '
        f"lists.</p>"
        f'<div class="detail" id="detail-{sec}" aria-live="polite">'
        f"Hover or focus a token.</div>"
        f'<div class="reply tokens" data-sec="{sec}">{_tokens(a, sec, forced)}</div>'
        f"{_forced_list(a, forced)}"
        f"<h3>Shifts by position</h3>{_plot(a)}{_deciles(a)}"
        f"<h3>Most shifted tokens</h3>{_most_shifted(a)}"
        f'<script type="application/json" id="data-{sec}">{_json_script(data)}</script>'
        f"</section>"
    )


def render_html(
    c: Comparison,
    lessons: list[Any] | None = None,
    forks: Sequence[tuple[str, Sequence[str]]] = (),
) -> str:
    """The whole report page for one comparison.

    Args:
        lessons: lesson results (`LessonResult.to_json(lang)`) run in the same session; each
            gets its own section after the comparison.
        forks: the conversation's fork points, as (where, one line per branch): the report
            is of the branch on screen, and this says which others exist.
    """
    base, aligned = c.base_name, c.aligned_name
    base_forced, aligned_forced = dict(c.base.forced), dict(c.aligned.forced)
    if c.direction == "aligned":
        main_title = f"The aligned reply ({aligned}), ranked by the base model ({base})"
        main = _section(c.analysis, 0, "aligned", "base", main_title, aligned_forced)
    else:
        main_title = f"The base reply ({base}), ranked by the aligned model ({aligned})"
        main = _section(c.analysis, 0, "base", "aligned", main_title, base_forced)
    reverse = ""
    if c.reverse is not None:
        reverse = _section(
            c.reverse,
            1,
            "base",
            "aligned",
            f"The other direction: the base reply ({base}), ranked by the aligned model",
            base_forced,
        )
    settings_html = _settings_table(c)
    legend = (
        '<p class="legend"><span class="unshifted">unshifted: rank 1</span>'
        '<span class="marginal">marginal: rank 2-3</span>'
        '<span class="shifted">shifted: rank 4+</span>'
        '<span class="approx">approximate pairing</span>'
        '<span class="forced">forced by the user</span></p>'
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>Token distribution shift</title>"
        f"<style>{_CSS}{_LESSON_CSS if lessons else ''}</style></head><body>"
        "<h1>Token distribution shift: what alignment changed</h1>"
        f"<p>Base model: <b>{_esc(base)}</b>. Aligned model: <b>{_esc(aligned)}</b>. "
        f"Base context: <b>{_esc(c.base.prompt.mode)}</b>. Vocabularies: "
        f"<b>{_esc(c.analysis.vocab)}</b>.</p>"
        f"<p class=note>{_esc(CLASS_NOTE)}</p>{legend}"
        f"<h2>The query</h2><pre>{_esc(c.query)}</pre>"
        f"{main}{reverse}"
        "<h2>The base model's own reply, for contrast</h2>"
        f"<pre>{_esc(c.base.text)}</pre>"
        f"<h2>The aligned model's reply</h2><pre>{_esc(c.aligned.text)}</pre>"
        f"<h2>Exact prompts</h2><h3>Aligned ({_esc(aligned)}), its chat template</h3>"
        f"<pre>{_esc(c.aligned.prompt.text)}</pre>"
        f"<h3>Base ({_esc(base)}), context: {_esc(c.base.prompt.mode)}</h3>"
        f"<pre>{_esc(c.base.prompt.text)}</pre>"
        f"{settings_html}"
        f"{_forks_section(forks)}"
        f"{''.join(lesson_section(x) for x in lessons or [])}"
        f"<script>{_JS}</script></body></html>"
    )


def _forks_section(forks: Sequence[tuple[str, Sequence[str]]]) -> str:
    if not forks:
        return ""
    items = "".join(
        f"<li>{_esc(where)}<ul>{''.join(f'<li>{_esc(b)}</li>' for b in branches)}</ul></li>"
        for where, branches in forks
    )
    return (
        "<h2>Forks in this conversation</h2><p class=note>This report shows the branch that "
        "was on screen; these are the other replies at each point.</p>"
        f"<ul>{items}</ul>"
    )


def _settings_table(c: Comparison) -> str:
    """One column when both models sampled alike, else base and aligned side by side with
    the settings that differ marked."""
    aligned = {**asdict(c.settings), "max_tokens": c.max_tokens}
    if c.base_settings is None or c.base_settings == c.settings:
        rows = "".join(
            f"<tr><td>{_esc(str(k))}</td><td>{_esc(str(v))}</td></tr>" for k, v in aligned.items()
        )
        return f"<h2>Sampler settings (both models)</h2><table>{rows}</table>"
    base = {**asdict(c.base_settings), "max_tokens": c.max_tokens}
    rows = "".join(
        f"<tr{' class=differs' if base[k] != v else ''}><td>{_esc(str(k))}</td>"
        f"<td>{_esc(str(base[k]))}</td><td>{_esc(str(v))}</td></tr>"
        for k, v in aligned.items()
    )
    return (
        "<h2>Sampler settings (they differ: marked rows)</h2>"
        f"<table><tr><th></th><th>base</th><th>aligned</th></tr>{rows}</table>"
    )


# ---------------------------------------------------------------------------- lessons
#
# A lesson's figures arrive as `LessonResult.to_json(lang)`: plain JSON, so this module
# (the analysis layer) never imports the lessons package above it, and a saved result
# renders the same as a fresh one.

_LESSON_CSS = """
.lesson{border-top:2px solid #bbb;margin-top:2em}
.hbar{display:grid;grid-template-columns:minmax(8em,max-content) 1fr max-content;gap:.2em .6em;
align-items:center;margin:.4em 0}
.hbar .track{background:#eee;height:1.1em;border-radius:2px;min-width:10em}
.hbar .fill{background:#4a78c2;height:100%;border-radius:2px}
.stack{display:flex;height:1.1em;min-width:10em;background:#eee}
.stack div{height:100%}
.p0{background:#7cc47c}.p1{background:#f0c850}.p2{background:#e06666}.p3{background:#999}
.strip{font-family:ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace;line-height:2}
.strip span{border:1px solid #ccc;border-radius:3px;padding:0 2px;margin:0 1px;
white-space:pre}
.strip .special{background:#f3d9fa;border-color:#a347c8}
.strip .handed{background:#cfe3ff;border-color:#1a57d6}
.strip .unshifted{background:var(--un)}.strip .marginal{background:var(--ma)}
.strip .shifted{background:var(--sh)}
.finding{font-weight:600}
"""

_PART_CLASS = ("p0", "p1", "p2", "p3")


def _lesson_table(fig: Any) -> str:
    head = "".join(f"<th>{_esc(str(c))}</th>" for c in fig["columns"])
    body = "".join(
        "<tr>" + "".join(f"<td>{_esc(str(c))}</td>" for c in row) + "</tr>" for row in fig["rows"]
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _lesson_bars(fig: Any) -> str:
    scale = float(fig.get("scale") or 1.0)
    rows = []
    for b in fig["bars"]:
        width = 0.0 if scale <= 0 else max(0.0, min(1.0, float(b["value"]) / scale)) * 100
        rows.append(
            f"<div>{_esc(str(b['label']))}</div>"
            f'<div class="track"><div class="fill" style="width:{width:.1f}%"></div></div>'
            f"<div>{_esc(str(b['text']))}</div>"
        )
    return f'<div class="hbar">{"".join(rows)}</div>'


def _lesson_stacked(fig: Any) -> str:
    legend = " ".join(
        f'<span class="{_PART_CLASS[k % 4]}">{_esc(str(p))}</span>'
        for k, p in enumerate(fig["parts"])
    )
    rows = []
    for r in fig["rows"]:
        total = sum(r["counts"]) or 1
        parts = "".join(
            f'<div class="{_PART_CLASS[k % 4]}" style="width:{c / total * 100:.1f}%" '
            f'title="{_esc(str(fig["parts"][k]))}: {c}"></div>'
            for k, c in enumerate(r["counts"])
        )
        counts = " / ".join(str(c) for c in r["counts"])
        rows.append(
            f"<div>{_esc(str(r['label']))}</div><div class=stack>{parts}</div>"
            f"<div>{_esc(counts)}</div>"
        )
    return f'<p class="legend">{legend}</p><div class="hbar">{"".join(rows)}</div>'


def _lesson_strip(fig: Any) -> str:
    legend = " ".join(
        f'<span class="{_esc(str(tag))}">{_esc(str(meaning))}</span>'
        for tag, meaning in fig["tags"]
    )
    toks = "".join(
        f'<span class="{_esc(str(t["tag"]))}" title="{_esc(str(t["note"]))}">'
        f"{_esc(str(t['text']))}</span>"
        for t in fig["tokens"]
    )
    return f'<p class="legend strip">{legend}</p><div class="strip">{toks}</div>'


def _lesson_series(fig: Any) -> str:
    lines = [(str(name), [float(v) for v in values]) for name, values in fig["lines"]]
    n = max((len(v) for _, v in lines), default=0)
    top = max((max(v, default=0.0) for _, v in lines), default=0.0) or 1.0
    w, h = 600, 160
    colours = ("#c0392b", "#1a57d6", "#2e8b57", "#8e44ad")
    paths = []
    legend = []
    for k, (name, values) in enumerate(lines):
        if not values:
            continue
        step = w / max(1, n - 1)
        pts = " ".join(f"{i * step:.1f},{h - v / top * (h - 10):.1f}" for i, v in enumerate(values))
        colour = colours[k % len(colours)]
        paths.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{pts}"/>')
        legend.append(f'<span style="color:{colour}">━ {_esc(name)}</span>')
    return (
        f'<p class="legend">{" ".join(legend)} (max {top:.2f}; x: {_esc(str(fig["x_label"]))})</p>'
        f'<svg viewBox="0 0 {w} {h}" width="100%" height="{h}" role="img" '
        f'style="max-width:{w}px;border:1px solid #ddd">{"".join(paths)}</svg>'
    )


_LESSON_FIGURES = {
    "table": _lesson_table,
    "bars": _lesson_bars,
    "stacked": _lesson_stacked,
    "strip": _lesson_strip,
    "series": _lesson_series,
}


def lesson_section(lesson: Any) -> str:
    """One lesson's figures as an HTML section.

    Args:
        lesson: `LessonResult.to_json(lang)`: every text already in one language.
    """
    figs = "".join(
        f"<h3>{_esc(str(f['title']))}</h3>{_LESSON_FIGURES[f['kind']](f)}"
        for f in lesson["figures"]
        if f.get("kind") in _LESSON_FIGURES
    )
    setup = "".join(
        f"<tr><td>{_esc(str(k))}</td><td>{_esc(str(v))}</td></tr>" for k, v in lesson["setup"]
    )
    notes = "".join(f"<p class=note>{_esc(str(n))}</p>" for n in lesson["notes"])
    base, aligned = lesson["models"]
    return (
        f'<section class="lesson" id="lesson-{_esc(str(lesson["name"]))}">'
        f"<h2>{int(lesson['number'])}. {_esc(str(lesson['title']))}</h2>"
        f"<p><i>{_esc(str(lesson['claim']))}</i></p>"
        f"<p>{_esc(str(lesson['explanation']))}</p>"
        f"<p>Base: <b>{_esc(str(base))}</b>. Aligned: <b>{_esc(str(aligned))}</b>.</p>"
        f"<table>{setup}</table>{figs}"
        f'<p class="finding">{_esc(str(lesson["finding"]))}</p>{notes}'
        f"<p class=note>{float(lesson['elapsed_s']):.1f} s</p></section>"
    )


def render_lessons_html(lessons: list[Any], lang: str = "en") -> str:
    """A page of lesson figures (each from `LessonResult.to_json(lang)`)."""
    title = "playground 课程实验" if lang == "zh" else "playground lessons"
    body = "".join(lesson_section(lesson) for lesson in lessons)
    return (
        f'<!DOCTYPE html><html lang="{_esc(lang)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_esc(title)}</title><style>{_CSS}{_LESSON_CSS}</style></head><body>"
        f"<h1>{_esc(title)}</h1>{body}</body></html>"
    )
