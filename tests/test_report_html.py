"""The HTML report in a real headless Chromium: hover and keyboard focus show both top-k
lists, model output is escaped, and the page works with no network.

Chromium is required (Debian: `apt-get install -y chromium chromium-driver`): a skipped
browser test proves nothing, so a missing browser fails with that hint.
"""

from __future__ import annotations

import dataclasses
import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from playground.analysis.compare import Comparison, piece_text, run_comparison
from playground.analysis.report_html import render_html
from playground.analysis.shift import ShiftClass
from playground.engine.llama.model import LlamaModel
from playground.engine.types import TopEntry

INSTALL_HINT = "headless Chromium is missing: apt-get install -y chromium chromium-driver"
EVIL = b"<script>window.__pwned=1</script></script><!--"


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail(INSTALL_HINT)


def dump_dom(page: Path, profile: Path) -> str:
    """Load the page, let its scripts run, return the DOM as Chromium serialises it."""
    cmd = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=2000",
        "--dump-dom",
        page.as_uri(),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=90, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


# What a user does, scripted: focus one token (Tab), hover another, and read the panel.
PROBE = """<script>
(function(){
  var out = {};
  var f = document.getElementById('t-0-FOCUS');
  f.focus();
  out.active = document.activeElement ? document.activeElement.id : '';
  // A headless window does not always hold the input focus, and then focus() moves
  // activeElement without firing focus events; fire the focusin a focused window would.
  if (document.getElementById('detail-0').innerText.indexOf('#') !== 0) {
    f.dispatchEvent(new FocusEvent('focusin', {bubbles: true}));
  }
  out.focused = document.getElementById('detail-0').innerText;
  var h = document.getElementById('t-0-HOVER');
  h.dispatchEvent(new MouseEvent('mouseover', {bubbles: true}));
  out.hovered = document.getElementById('detail-0').innerText;
  out.pwned = String(window.__pwned);
  out.evil = document.getElementById('t-0-EVIL').textContent;
  out.tables = document.querySelectorAll('#detail-0 table').length;
  var pre = document.createElement('pre');
  pre.id = 'probe-result';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>"""


@pytest.fixture(scope="module")
def comparison(tiny_base: LlamaModel, tiny_aligned: LlamaModel) -> Comparison:
    c = run_comparison(tiny_base, tiny_aligned, "hello", base_context="urial", max_tokens=12)
    # Model output can be anything: plant markup in one token and in a top-k entry.
    tokens = list(c.analysis.tokens)
    evil_top = (TopEntry(0, EVIL, -0.5), *tokens[1].other_top[1:])
    tokens[1] = dataclasses.replace(tokens[1], piece=EVIL, other_top=evil_top)
    # A scorer without full-vocabulary ranks (llama-server) knows only "outside its top-5".
    tokens[2] = dataclasses.replace(
        tokens[2], other_rank=6, other_rank_exact=False, shift=ShiftClass.SHIFTED
    )
    analysis = dataclasses.replace(c.analysis, tokens=tuple(tokens))
    return dataclasses.replace(c, analysis=analysis)


def test_focus_and_hover_show_both_top_k_lists(comparison: Comparison, tmp_path: Path) -> None:
    page = render_html(comparison)
    focus, hover = 0, 2
    probe = PROBE.replace("FOCUS", str(focus)).replace("HOVER", str(hover)).replace("EVIL", "1")
    path = tmp_path / "report.html"
    path.write_text(page.replace("</body>", probe + "</body>"), encoding="utf-8")
    dom = dump_dom(path, tmp_path / "profile")
    found = re.search(r'<pre id="probe-result">(.*?)</pre>', dom, re.S)
    assert found, "the probe did not run: " + dom[-500:]
    out = json.loads(html.unescape(found.group(1)))

    assert out["active"] == f"t-0-{focus}"
    assert out["tables"] == 2
    for key, index in (("focused", focus), ("hovered", hover)):
        row = comparison.analysis.tokens[index]
        shown = out[key]
        assert f"#{index} " in shown
        assert f"rank {row.other_rank_text} under base" in shown
        assert "aligned top-5" in shown and "base top-5" in shown
        # Both lists, in order, with the producer's and the scorer's own alternatives.
        for entry in (*row.producer_top, *row.other_top):
            assert json.dumps(piece_text(entry.piece), ensure_ascii=False) in shown
    assert "rank >5 under base" in out["hovered"]  # a bound, not a made-up rank 6
    # The planted markup stayed text: it never ran, and the token shows it literally.
    assert out["pwned"] == "undefined"
    assert out["evil"] == EVIL.decode()


def test_page_is_self_contained_and_shows_what_a_teacher_needs(comparison: Comparison) -> None:
    page = render_html(comparison)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "@import" not in page and "url(" not in page
    assert "<script>window.__pwned" not in page
    assert html.escape(comparison.aligned.prompt.text) in page
    assert html.escape(comparison.base.prompt.text) in page
    assert html.escape(comparison.base.text) in page  # the base model's own reply
    assert "<svg" in page  # the plot of shifts by position
    assert "temperature" in page  # the sampler settings
    assert 'tabindex="0"' in page
