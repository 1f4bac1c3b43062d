"""The default --max-sessions: free memory over what one more tab of this pair costs, the
weights counted once (every tab maps the same files)."""

from __future__ import annotations

from playground.config import Config
from playground.serve.capacity import MAX_DEFAULT_SESSIONS, MEMORY_SHARE, default_capacity


def test_weights_count_once_and_each_tab_adds_its_own_part(tiny_config: Config, tiny_pair) -> None:  # type: ignore[no-untyped-def]
    one = default_capacity(tiny_config, available=0)
    assert one.shared_bytes == tiny_pair.base.stat().st_size + tiny_pair.aligned.stat().st_size
    for tabs in (1, 3, 7):
        room = int((one.shared_bytes + tabs * one.per_session_bytes) / MEMORY_SHARE) + 1024
        assert default_capacity(tiny_config, available=room).sessions == tabs


def test_always_one_never_more_than_the_cap(tiny_config: Config) -> None:
    assert default_capacity(tiny_config, available=0).sessions == 1
    assert default_capacity(tiny_config, available=1 << 50).sessions == MAX_DEFAULT_SESSIONS
    capacity = default_capacity(tiny_config, available=16 << 30)
    assert "16.0 GiB free" in capacity.explain()
    assert f"{capacity.sessions} (" in capacity.explain()


def test_a_larger_context_costs_more_per_tab(tiny_config: Config) -> None:
    import dataclasses

    base_id = tiny_config.pair.base
    bigger = dataclasses.replace(
        tiny_config,
        models={
            **tiny_config.models,
            base_id: dataclasses.replace(tiny_config.models[base_id], n_ctx=8192),
        },
    )
    assert (
        default_capacity(bigger, available=8 << 30).sessions
        < default_capacity(tiny_config, available=8 << 30).sessions
    )


def test_a_pair_on_a_model_server_costs_a_tab_only_the_app(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from playground.config import load_config
    from playground.serve.capacity import SESSION_BASE_BYTES

    entries = "".join(
        f'[models.{mid}]\nname = "{mid}"\nrole = "{role}"\nkind = "llama-server"\n'
        f'url = "http://127.0.0.1:8080"\nserver_model = "{mid}"\n\n'
        for mid, role in (("srv-base", "base"), ("srv-aligned", "aligned"))
    )
    path = tmp_path / "class.toml"
    path.write_text(f'[pair]\nbase = "srv-base"\naligned = "srv-aligned"\n\n{entries}')
    capacity = default_capacity(load_config(path), available=4 << 30)
    assert capacity.per_session_bytes == SESSION_BASE_BYTES and capacity.shared_bytes == 0
    assert capacity.sessions == MAX_DEFAULT_SESSIONS
