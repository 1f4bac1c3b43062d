"""Property tests: a conversation file and a models.toml can hold anything.

Whatever bytes or records they hold, reading them never raises anything but the one
documented error, and every valid record survives the garbage around it.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from playground.config import ConfigError
from playground.config.models import parse_config
from playground.sampling.presets import PresetError, load_user_presets
from playground.session.turns import SIDES
from playground.ui.replay import replay

PROFILE = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _replay_bytes(data: bytes) -> Any:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.jsonl"
        path.write_bytes(data)
        return replay(path)


def _lines(records: list[bytes]) -> bytes:
    return b"".join(r + b"\n" for r in records)


# ---------------------------------------------------------------------------- valid records

text = st.text(max_size=20)
side = st.sampled_from(SIDES)
hexbytes = st.binary(max_size=6).map(bytes.hex)
kinds = st.sampled_from(["normal", "control", "byte", "user_defined"])


@st.composite
def token(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "i": draw(st.integers(0, 500)),
        "id": draw(st.integers(0, 300)),
        "piece": draw(hexbytes),
        "kind": draw(kinds),
        "text": draw(text),
        "lp": draw(st.floats(-30, 0)),
        "pa": draw(st.floats(0, 1)),
        "eog": draw(st.booleans()),
        "top": draw(
            st.lists(
                st.tuples(st.integers(0, 300), hexbytes, st.floats(-30, 0)).map(list), max_size=3
            )
        ),
    }


@st.composite
def valid_records(draw: st.DrawFn) -> list[dict[str, Any]]:
    """A conversation as the app writes it: every per-side record names a live turn."""
    out: list[dict[str, Any]] = []
    turns = 0
    for _ in range(draw(st.integers(0, 12))):
        op = draw(st.sampled_from(["user", "user", "side", "side", "side", "clear", "drop"]))
        if op == "user" or (op == "side" and turns == 0):
            out.append(
                {
                    "type": "user",
                    "text": draw(text),
                    "mode": draw(st.sampled_from(["chat", "document"])),
                }
            )
            turns += 1
        elif op == "clear":
            out.append({"type": "clear"})
            turns = 0
        elif op == "drop":
            out.append({"type": "drop_last"})
            turns = max(0, turns - 1)
        else:
            where = {"side": draw(side), "turn": draw(st.integers(0, turns - 1))}
            what = draw(st.sampled_from(["prompt", "tokens", "finish", "error", "scores"]))
            if what == "prompt":
                rec = {
                    "template": draw(text),
                    "text": draw(text),
                    "tokens": [[1, "41", "normal", False]],
                }
            elif what == "tokens":
                rec = {"tokens": draw(st.lists(token(), max_size=3))}
            elif what == "finish":
                rec = {
                    "reason": draw(st.sampled_from(["eog", "max_tokens", "cancelled", "stop"])),
                    "tokens": draw(st.integers(0, 50)),
                    "elapsed_s": draw(st.floats(0, 10)),
                    "prompt_tokens": draw(st.integers(0, 50)),
                    "reused_tokens": draw(st.integers(0, 50)),
                }
            elif what == "error":
                rec = {"message": draw(text)}
            else:
                rec = {"ranks": [1, None, 4], "classes": ["unshifted", None, "shifted"]}
            out.append({"type": what, **where, **rec})
    return out


# ---------------------------------------------------------------------------- garbage


def _is_object(line: bytes) -> bool:
    try:
        return isinstance(json.loads(line.decode("utf-8")), dict)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return False


raw_garbage = st.binary(min_size=1, max_size=40).filter(
    lambda b: b"\n" not in b and b.strip() != b"" and not _is_object(b)
)
json_not_object = st.one_of(
    st.lists(st.integers(), max_size=3), st.integers(), st.text(max_size=5), st.none()
).map(lambda v: json.dumps(v).encode())
not_str = st.one_of(st.integers(), st.none(), st.lists(st.integers(), max_size=2), st.booleans())
wrong_types = st.one_of(
    st.builds(lambda v: {"type": "user", "text": v}, not_str),
    st.builds(
        lambda s, t: {"type": "error", "side": s, "turn": 0, "message": "m"},
        st.text(max_size=4).filter(lambda s: s not in SIDES),
        st.none(),
    ),
    st.builds(
        lambda t: {"type": "finish", "side": "base", "turn": t},
        st.one_of(st.text(max_size=3), st.floats(), st.none()),
    ),
    st.builds(
        lambda v: {"type": "tokens", "side": "aligned", "turn": 0, "tokens": v},
        st.one_of(
            st.integers(), st.text(max_size=3), st.lists(st.integers(), min_size=1, max_size=2)
        ),
    ),
).map(lambda r: json.dumps(r).encode())
invalid_utf8 = st.binary(min_size=1, max_size=10).map(
    lambda b: b'{"type": "user", "text": "' + b"\xff" + b.replace(b"\n", b"") + b'"}'
)
garbage = st.one_of(raw_garbage, json_not_object, wrong_types, invalid_utf8)


@PROFILE
@given(st.binary(max_size=2000))
def test_any_bytes_replay_without_an_exception(data: bytes) -> None:
    rebuilt = _replay_bytes(data)
    assert rebuilt.skipped >= 0


@PROFILE
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=60),
            st.builds(
                json.dumps,
                st.dictionaries(
                    st.sampled_from(
                        ["type", "side", "turn", "text", "tokens", "reason", "views", "ranks"]
                    ),
                    st.one_of(
                        st.none(),
                        st.integers(-2, 3),
                        st.text(max_size=4),
                        st.sampled_from(
                            [
                                "user",
                                "prompt",
                                "tokens",
                                "finish",
                                "error",
                                "scores",
                                "base",
                                "aligned",
                            ]
                        ),
                        st.lists(st.integers(), max_size=2),
                    ),
                ),
            ).map(str.encode),
        ),
        max_size=30,
    )
)
def test_any_records_replay_without_an_exception(lines: list[bytes]) -> None:
    _replay_bytes(b"\n".join(lines))


@PROFILE
@given(valid_records(), st.lists(st.tuples(st.integers(0, 40), garbage), max_size=8), st.booleans())
def test_every_valid_record_survives_the_garbage(
    records: list[dict[str, Any]], inserts: list[tuple[int, bytes]], torn: bool
) -> None:
    good = [json.dumps(r, ensure_ascii=False).encode() for r in records]
    mixed = list(good)
    for at, junk in inserts:
        mixed.insert(min(at, len(mixed)), junk)
    data = _lines(mixed)
    if torn:  # a kill mid-write: the last record is cut and has no newline
        data += b'{"type": "tokens", "side": "base", "tur'
    clean = _replay_bytes(_lines(good))
    dirty = _replay_bytes(data)
    assert clean.skipped == 0
    assert dirty.skipped == len(inserts) + (1 if torn else 0)
    for s in SIDES:  # field by field: a Turn compares by identity
        assert [dataclasses.asdict(t) for t in dirty[s].turns] == [
            dataclasses.asdict(t) for t in clean[s].turns
        ]


# ---------------------------------------------------------------------------- models.toml


@PROFILE
@given(st.binary(max_size=600))
def test_any_bytes_as_models_toml_raise_only_config_error(data: bytes) -> None:
    from playground.config import load_config

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "models.toml"
        path.write_bytes(data)
        try:
            load_config(path)
        except ConfigError as exc:
            assert str(path) in str(exc)
        try:
            load_user_presets(path)
        except PresetError as exc:
            assert str(path) in str(exc)


toml_scalar = st.one_of(
    st.integers(-5, 5000),
    st.booleans(),
    st.text(max_size=12),
    st.floats(allow_nan=True),
    st.lists(st.integers(), max_size=2),
)
model_keys = st.sampled_from(
    [
        "name",
        "role",
        "path",
        "package",
        "pip",
        "n_ctx",
        "threads",
        "n_gpu_layers",
        "template",
        "bogus",
    ]
)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return (
            "nan"
            if v != v
            else ("inf" if v == float("inf") else ("-inf" if v == float("-inf") else repr(v)))
        )
    if isinstance(v, str | int | list):
        # a JSON string is a TOML basic string, once non-ASCII stays literal (TOML has no
        # surrogate-pair escapes) and DEL is escaped
        return json.dumps(v, ensure_ascii=False).replace("\x7f", "\\u007f")
    raise TypeError(v)


ids = st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True)


@st.composite
def valid_model(draw: st.DrawFn) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": draw(
            st.text(
                st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]),
                min_size=1,
                max_size=12,
            ).filter(str.strip)
        ),
        "role": draw(st.sampled_from(["base", "aligned"])),
        "n_ctx": draw(st.integers(16, 100_000)),
        "threads": draw(st.integers(0, 64)),
        "n_gpu_layers": draw(st.integers(-1, 99)),
    }
    if draw(st.booleans()):
        entry["path"] = draw(st.from_regex(r"[a-z]{1,8}\.gguf", fullmatch=True))
    else:
        entry["package"] = draw(st.from_regex(r"[a-z_]{1,10}", fullmatch=True))
    return entry


def _table(mid: str, entry: dict[str, Any]) -> str:
    return f"[models.{mid}]\n" + "".join(f"{k} = {_toml_value(v)}\n" for k, v in entry.items())


@PROFILE
@example({"a": {"role": "base", "path": "~no-such-user/x.gguf"}})
@example({"a": {"role": "base", "path": "a\x00b.gguf"}})
@given(
    st.dictionaries(
        ids, st.dictionaries(model_keys, toml_scalar, max_size=6), min_size=1, max_size=4
    )
)
def test_any_model_records_parse_or_raise_config_error_with_a_line(
    models: dict[str, dict[str, Any]],
) -> None:
    text = "\n".join(_table(mid, entry) for mid, entry in models.items())
    path = Path("/tmp/models.toml")
    try:
        config = parse_config(text, path)
    except ConfigError as exc:
        assert str(exc).startswith(str(path))
        return
    assert set(config.models) == set(models)


@PROFILE
@given(st.dictionaries(ids, valid_model(), min_size=1, max_size=4))
def test_every_valid_model_record_survives(models: dict[str, dict[str, Any]]) -> None:
    text = "\n".join(_table(mid, entry) for mid, entry in models.items())
    config = parse_config(text, Path("/tmp/cfg/models.toml"))
    assert set(config.models) == set(models)
    for mid, entry in models.items():
        spec = config.models[mid]
        assert spec.name == entry["name"] and spec.role == entry["role"]
        assert (spec.n_ctx, spec.threads, spec.n_gpu_layers) == (
            entry["n_ctx"],
            entry["threads"],
            entry["n_gpu_layers"],
        )
        if "path" in entry:
            assert spec.path == Path("/tmp/cfg") / entry["path"]
        else:
            assert spec.package == entry["package"]
