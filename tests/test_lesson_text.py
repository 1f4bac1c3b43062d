"""The lessons' terminal layout measures cells, so Chinese wraps and aligns like English."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from playground.lessons.figures import Bar, Bars, Bilingual, StackedBars, StackedRow
from playground.lessons.lang import UnknownLanguage, choose_lang, locale_lang, parse_lang
from playground.lessons.text import cell_width, figure_lines, pad, table_lines, wrap

ZH = (
    "比较两根停止率条形：对齐模型用它的轮次结束词元结束回答，基座模型一直写到词元预算用完。"
    "表格列出基座模型转而做了什么：自己写出下一轮“User:”、重复一行，或者跑题。"
)


def test_cjk_characters_are_two_cells() -> None:
    assert cell_width("基座") == 4 and cell_width("ab") == 2 and cell_width("a基") == 3
    assert cell_width(pad("基座模型", 5)) == 5  # a wide character never straddles the edge


@given(
    st.text(
        alphabet=st.sampled_from(list("基座模型对齐，。 abcdef日本語🙂")), min_size=0, max_size=200
    ),
    st.integers(min_value=4, max_value=60),
)
@example(" 型。", 4)  # carrying 型 along with 。 would overflow a 4-cell line
def test_wrap_never_overflows_and_loses_nothing(text: str, width: int) -> None:
    lines = wrap(text, width)
    assert all(cell_width(line) <= width for line in lines)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")


def test_chinese_wraps_between_characters_and_fills_lines() -> None:
    lines = wrap(ZH, 30)
    assert all(cell_width(line) <= 30 for line in lines)
    assert all(cell_width(line) >= 26 for line in lines[:-1])  # no half-empty lines
    assert not any(line.startswith(("，", "。", "：")) for line in lines)


def test_table_columns_align_with_mixed_scripts() -> None:
    rows = [("invents the next turn", "编造下一轮对话", "3"), ("repeats", "重复自己", "12")]
    lines = table_lines(("behaviour", "行为", "replies"), rows, 80)
    starts = set()
    for line in [lines[0], *lines[2:]]:
        # The third column starts at the same cell on every line.
        cells = 0
        for i, ch in enumerate(line):
            if line[i:].startswith(("replies", "3", "12")) and cells > 20:
                starts.add(cells)
                break
            cells += cell_width(ch)
    assert len(starts) == 1


def test_bars_and_stacked_bars_draw_to_scale() -> None:
    bars = Bars(Bilingual("Stops", "停止"), (Bar("base", 0.0, "0/4"), Bar("aligned", 1.0, "4/4")))
    lines = figure_lines(bars, "zh", 80)
    assert lines[0] == "停止"
    assert lines[1].count("█") == 0 and lines[2].count("█") == 32
    stacked = StackedBars(
        Bilingual("by tenth", "十分位"), ("a", "b", "c"), (StackedRow("0%", (1, 1, 2)),)
    )
    row = figure_lines(stacked, "en", 80)[2]
    assert row.count("█") == 8 and row.count("▒") == 8 and row.count("░") == 16


def test_language_from_flag_setting_then_locale() -> None:
    assert locale_lang({"LANG": "zh_CN.UTF-8"}) == "zh"
    assert locale_lang({"LC_ALL": "en_US.UTF-8", "LANG": "zh_CN.UTF-8"}) == "en"
    assert locale_lang({}) == "en"
    assert choose_lang(None, {"PLAYGROUND_LANG": "zh", "LANG": "en_US"}) == "zh"
    assert choose_lang("en", {"PLAYGROUND_LANG": "zh"}) == "en"
    assert parse_lang("zh-TW") == "zh" and parse_lang("English") == "en"
    try:
        parse_lang("fr")
    except UnknownLanguage as exc:
        assert "valid: en, zh" in str(exc)
    else:
        raise AssertionError("fr was accepted")


def test_figures_fit_a_narrow_column() -> None:
    bars = Bars(
        Bilingual("Stops", "停止"),
        (Bar("aligned: tiny-aligned", 1.0, "4/4 (100%)"), Bar("base: tiny-base", 0.0, "0/4 (0%)")),
    )
    stacked = StackedBars(
        Bilingual("by tenth", "十分位"), ("a", "b", "c"), (StackedRow("0-10%", (10, 20, 300)),)
    )
    for fig in (bars, stacked):
        for line in figure_lines(fig, "en", 50)[1:]:
            assert cell_width(line) <= 50, line


def test_lesson_html_escapes_model_output() -> None:
    from playground.analysis.report_html import render_lessons_html
    from playground.lessons.figures import LessonResult, Series, StripToken, Table, TokenStrip

    evil = "<script>window.__pwned=1</script>"
    result = LessonResult(
        name="document",
        number=2,
        title=Bilingual("T", "标题"),
        claim=Bilingual("c", "c"),
        explanation=Bilingual("e", "说明"),
        finding=Bilingual("f", "f"),
        figures=(
            Table(Bilingual("t", "t"), ("reply",), ((evil,),)),
            TokenStrip(Bilingual("s", "s"), (StripToken(evil, "special", evil),)),
            Series(Bilingual("h", "h"), "token", (("base", (0.5, 1.0)),)),
        ),
        models=(evil, "aligned"),
    )
    page = render_lessons_html([result.to_json("zh")], "zh")
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert '<html lang="zh">' in page and "标题" in page and "<polyline" in page
