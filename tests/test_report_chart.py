"""The HTML report's rank chart in a real headless Chromium: every y-axis label is drawn
whole inside the chart (a rank of 10000 once showed as `0000`)."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

from playground.analysis.compare import Comparison, run_comparison
from playground.analysis.report_html import render_html
from playground.engine.llama.model import LlamaModel
from tests.test_report_html import dump_dom

PROBE = """<script>
(function(){
  var out = [];
  document.querySelectorAll('svg.plot').forEach(function(svg){
    var box = svg.viewBox.baseVal;
    svg.querySelectorAll('text').forEach(function(t){
      var b = t.getBBox();
      out.push({text: t.textContent, x: b.x, right: b.x + b.width, width: box.width});
    });
  });
  var pre = document.createElement('pre');
  pre.id = 'probe-result';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>"""


def test_y_axis_labels_are_not_clipped(
    tiny_base: LlamaModel, tiny_aligned: LlamaModel, tmp_path: Path
) -> None:
    c: Comparison = run_comparison(tiny_base, tiny_aligned, "hello", max_tokens=8)
    # a rank of 54321 puts the axis at 10^4: the widest label, "10000"
    tokens = list(c.analysis.tokens)
    tokens[0] = dataclasses.replace(tokens[0], other_rank=54321)
    c = dataclasses.replace(c, analysis=dataclasses.replace(c.analysis, tokens=tuple(tokens)))
    page = tmp_path / "report.html"
    page.write_text(render_html(c).replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dom = dump_dom(page, tmp_path / "profile")
    found = re.search(r'<pre id="probe-result">(.*?)</pre>', dom, re.S)
    assert found is not None, dom[-2000:]
    labels = json.loads(found.group(1).replace("&quot;", '"'))
    ticks = [t for t in labels if t["text"].isdigit()]
    assert [t["text"] for t in ticks] == ["1", "10", "100", "1000", "10000"]
    for t in ticks:
        assert t["x"] >= 0, f"label {t['text']} starts at x={t['x']:.1f}, outside the chart"
        assert t["right"] <= t["width"]
