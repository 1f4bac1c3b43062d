"""Which language the lessons speak: a setting or `--lang` wins, else the locale.

The course this tool accompanies is taught in Chinese and English. A locale such as
`zh_CN.UTF-8`, `zh_TW` or `zh` picks Chinese; anything else English.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from playground.lessons.figures import LANGS, Lang

LANG_ENV = "PLAYGROUND_LANG"
"""Overrides the locale for the lessons (a setting, as an environment variable)."""


class UnknownLanguage(ValueError):
    def __init__(self, value: str) -> None:
        super().__init__(f"unknown language {value!r}; valid: {', '.join(LANGS)}")


def parse_lang(value: str) -> Lang:
    """'en' or 'zh' (also 'zh_CN', 'zh-TW', 'English', 'chinese', '中文').

    Raises:
        UnknownLanguage: anything else.
    """
    v = value.strip().lower().replace("-", "_")
    if v in ("zh", "中文", "chinese") or v.startswith("zh_"):
        return "zh"
    if v in ("en", "english") or v.startswith("en_"):
        return "en"
    raise UnknownLanguage(value)


def locale_lang(env: Mapping[str, str] | None = None) -> Lang:
    """The language of the locale: LC_ALL, then LC_MESSAGES, then LANG (POSIX order)."""
    e = os.environ if env is None else env
    for key in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = e.get(key, "")
        if value:
            return "zh" if value.lower().startswith("zh") else "en"
    return "en"


def choose_lang(explicit: str | None = None, env: Mapping[str, str] | None = None) -> Lang:
    """`explicit` (from --lang) if given, else $PLAYGROUND_LANG, else the locale.

    Raises:
        UnknownLanguage: `explicit` or $PLAYGROUND_LANG is not a known language.
    """
    if explicit:
        return parse_lang(explicit)
    e = os.environ if env is None else env
    setting = e.get(LANG_ENV, "")
    if setting:
        return parse_lang(setting)
    return locale_lang(e)
