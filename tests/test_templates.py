"""Chat templates: exact renderings, the sandbox, and what happens when a template is bad.

The golden files in tests/golden/templates/ were written by hand from each family's official
format (not produced by playground). ChatML is also checked against SmolLM2's own GGUF
template, and Gemma, Llama 3 and Mistral against their Hugging Face Jinja templates, rendered
in our sandbox.
"""

from __future__ import annotations

import os
from pathlib import Path

import gguf
import pytest

from playground.engine.llama.model import LlamaModel, LoadOptions
from playground.templates import (
    JinjaTemplate,
    TemplateError,
    TemplateProblem,
    TemplateSession,
    default_template,
    list_templates,
    resolve_template,
)
from playground.templates.urial import EXAMPLES

GOLDEN = Path(__file__).parent / "golden" / "templates"

CONVERSATION = [
    {"role": "system", "content": "You are a concise assistant."},
    {"role": "user", "content": "What is the capital of France?"},
    {"role": "assistant", "content": "Paris."},
    {"role": "user", "content": "And of Italy?"},
]

# Each family's real BOS/EOS text, as its template receives them.
SPECIALS = {
    "chatml": ("", "<|im_end|>"),
    "llama3": ("<|begin_of_text|>", "<|eot_id|>"),
    "gemma": ("<bos>", "<eos>"),
    "mistral": ("<s>", "</s>"),
}

BUILTINS = [
    "chatml",
    "llama3",
    "gemma",
    "mistral",
    "alpaca",
    "plain",
    "gpt4o",
    "urial",
    "urial-plain",
    "none",
]

# The official Hugging Face templates, as published with the models (Gemma 3, Meta Llama 3
# Instruct, Mistral 7B Instruct v0.2), used as independent references.
HF_GEMMA = """{{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
    {%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = "" -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
    {%- endif -%}
    {%- if (message['role'] == 'assistant') -%}
        {%- set role = "model" -%}
    {%- else -%}
        {%- set role = message['role'] -%}
    {%- endif -%}
    {{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else "") }}
    {%- if message['content'] is string -%}
        {{ message['content'] | trim }}
    {%- elif message['content'] is iterable -%}
        {%- for item in message['content'] -%}
            {%- if item['type'] == 'image' -%}
                {{ '<start_of_image>' }}
            {%- elif item['type'] == 'text' -%}
                {{ item['text'] | trim }}
            {%- endif -%}
        {%- endfor -%}
    {%- else -%}
        {{ raise_exception("Invalid content type") }}
    {%- endif -%}
    {{ '<end_of_turn>\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{'<start_of_turn>model\n'}}
{%- endif -%}
"""

HF_LLAMA3 = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'"
    "+ message['content'] | trim + '<|eot_id|>' %}"
    "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}"
    "{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}"
    "{% endif %}"
)

HF_MISTRAL = """{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content'] %}
    {%- set loop_messages = messages[1:] %}
{%- else %}
    {%- set loop_messages = messages %}
{%- endif %}
{{- bos_token }}
{%- for message in loop_messages %}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}
        {{- raise_exception('Conversation roles must alternate user/assistant/user/...') }}
    {%- endif %}
    {%- if message['role'] == 'user' %}
        {%- if loop.first and system_message is defined %}
            {{- '[INST] ' + system_message + '\n\n' + message['content'] + ' [/INST]' }}
        {%- else %}
            {{- '[INST] ' + message['content'] + ' [/INST]' }}
        {%- endif %}
    {%- elif message['role'] == 'assistant' %}
        {{- ' ' + message['content'] + eos_token}}
    {%- endif %}
{%- endfor %}
"""

ESCAPES = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os.system('echo pwned') }}",
    "{{ ''.__class__ }}",
    "{% for m in messages %}{{ m.__class__.__base__ }}{% endfor %}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{{ messages.append({'role': 'user', 'content': 'x'}) }}",
]


def golden(name: str) -> str:
    return (GOLDEN / f"{name}.txt").read_text(encoding="utf-8")


def render(name: str) -> str:
    bos, eos = SPECIALS.get(name, ("<s>", "</s>"))
    return resolve_template(name).render(CONVERSATION, True, bos, eos)


@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_matches_its_golden_rendering(name: str) -> None:
    assert render(name) == golden(name)


def test_every_builtin_is_listed_and_has_a_golden_file() -> None:
    listed = [name for name, _ in list_templates()]
    assert listed[0] == "gguf"
    assert listed[1:] == BUILTINS
    assert sorted(p.stem for p in GOLDEN.glob("*.txt")) == sorted(BUILTINS)


def test_chatml_equals_smollm2_own_template(smollm2: LlamaModel) -> None:
    own = resolve_template("gguf", smollm2.info)
    assert isinstance(own, JinjaTemplate)
    ours = resolve_template("chatml").render(CONVERSATION, True, "", "")
    assert own.render(CONVERSATION, True, "<|im_start|>", "<|im_end|>") == ours
    # Without a generation prompt too, and both end the last turn the same way.
    assert own.render(CONVERSATION, False) == resolve_template("chatml").render(CONVERSATION, False)


@pytest.mark.parametrize(
    ("name", "hf_source"), [("gemma", HF_GEMMA), ("llama3", HF_LLAMA3), ("mistral", HF_MISTRAL)]
)
def test_builtin_equals_official_hf_template(name: str, hf_source: str) -> None:
    bos, eos = SPECIALS[name]
    official = JinjaTemplate(f"hf-{name}", hf_source)
    for gen in (True, False):
        convs = [CONVERSATION, CONVERSATION[1:], CONVERSATION[1:3]]
        for conv in convs:
            assert resolve_template(name).render(conv, gen, bos, eos) == official.render(
                conv, gen, bos, eos
            ), (name, gen, conv)


def test_gemma_refuses_non_alternating_roles_like_the_official_template() -> None:
    bad = [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]
    with pytest.raises(TemplateError) as ours:
        resolve_template("gemma").render(bad, True, "<bos>", "<eos>")
    with pytest.raises(TemplateError) as official:
        JinjaTemplate("hf-gemma", HF_GEMMA).render(bad, True, "<bos>", "<eos>")
    assert ours.value.problem is official.value.problem is TemplateProblem.RAISED
    assert "alternate" in str(ours.value)
    assert "Conversation roles must alternate" in str(official.value)


def test_urial_has_three_examples_then_the_query() -> None:
    text = resolve_template("urial").render(CONVERSATION[1:2], True)
    assert len(EXAMPLES) == 3
    assert text.count("# Query:\n```\n") == 4
    assert text.count("# Answer:\n```\n") == 4
    assert text.index(EXAMPLES[2][0]) < text.index("What is the capital of France?")
    assert text.endswith("# Query:\n```\nWhat is the capital of France?\n```\n\n# Answer:\n```\n")
    plain = resolve_template("urial-plain").render(CONVERSATION[1:2], True)
    assert plain == "# Query:\n```\nWhat is the capital of France?\n```\n\n# Answer:\n```\n"


def test_none_is_the_raw_document() -> None:
    doc = "Once upon a time"
    assert resolve_template("none").render([{"role": "user", "content": doc}], True) == doc


def test_emits_bos_tells_which_templates_write_bos() -> None:
    writes = {name for name in BUILTINS if resolve_template(name).emits_bos()}
    assert writes == {"llama3", "gemma", "mistral"}


# ---------------------------------------------------------------------------- defaults


def test_base_gemma_gets_the_gemma_default_and_is_told_why(gemma: LlamaModel) -> None:
    assert gemma.info.chat_template is None
    choice = default_template(gemma.info, gemma.vocab)
    assert choice.template.name == "gemma"
    assert "no chat template" in choice.reason
    assert "gemma" in choice.reason
    with pytest.raises(TemplateError, match="no chat template"):
        resolve_template("gguf", gemma.info)


def test_smollm2_default_is_its_own_template(smollm2: LlamaModel) -> None:
    choice = default_template(smollm2.info, smollm2.vocab)
    assert choice.template.name == "gguf"
    assert "own GGUF" in choice.reason


def test_family_default_from_the_vocabulary(smollm2: LlamaModel) -> None:
    from dataclasses import replace

    no_template = replace(smollm2.info, chat_template=None)
    choice = default_template(no_template, smollm2.vocab)
    assert choice.template.name == "chatml"
    assert "<|im_start|>" in choice.reason
    # Without a vocabulary to look in, nothing suggests a family.
    assert default_template(no_template, None).template.name == "plain"


# ---------------------------------------------------------------------------- the sandbox


def _copy_gguf_with_template(src: Path, dst: Path, template: str) -> None:
    """A real GGUF, identical but for tokenizer.chat_template (gguf_new_metadata's method)."""
    reader = gguf.GGUFReader(src)
    arch = reader.fields[gguf.Keys.General.ARCHITECTURE].contents()
    writer = gguf.GGUFWriter(dst, arch=arch, endianess=reader.endianess)
    alignment = reader.fields.get(gguf.Keys.General.ALIGNMENT)
    if alignment is not None:
        writer.data_alignment = alignment.contents()
    for field in reader.fields.values():
        name = field.name
        if name == gguf.Keys.General.ARCHITECTURE or name.startswith("GGUF."):
            continue
        if name.startswith(gguf.Keys.Tokenizer.CHAT_TEMPLATE):
            continue
        val_type = field.types[0]
        sub_type = field.types[-1] if val_type == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(name, field.contents(), val_type, sub_type=sub_type)
    writer.add_chat_template(template)
    for tensor in reader.tensors:
        writer.add_tensor_info(
            tensor.name,
            tensor.data.shape,
            tensor.data.dtype,
            tensor.data.nbytes,
            tensor.tensor_type,
        )
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for tensor in reader.tensors:
        writer.write_tensor_data(tensor.data)
    writer.close()


HOSTILE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}"
    "{{ cycler.__init__.__globals__.os.system('touch ' ~ messages[0]['content']) }}"
)


@pytest.fixture(scope="module")
def hostile_model(smollm2_path: Path, tmp_path_factory: pytest.TempPathFactory) -> LlamaModel:
    dst = tmp_path_factory.mktemp("hostile") / "smollm2-hostile.gguf"
    _copy_gguf_with_template(smollm2_path, dst, HOSTILE)
    model = LlamaModel(dst, LoadOptions(n_ctx=128, n_threads=1))
    yield model  # type: ignore[misc]
    model.close()


def test_hostile_template_in_a_real_gguf_is_refused(
    hostile_model: LlamaModel, tmp_path: Path
) -> None:
    # The copy is a real model: llama.cpp loaded it and it still tokenizes.
    assert hostile_model.info.chat_template == HOSTILE
    assert len(hostile_model.tokenize("<|im_start|>", special=True)) == 1
    marker = tmp_path / "escaped"
    template = resolve_template("gguf", hostile_model.info)
    with pytest.raises(TemplateError) as err:
        template.render([{"role": "user", "content": str(marker)}], True)
    assert err.value.problem is TemplateProblem.SECURITY
    assert "Python internals" in str(err.value)
    assert "refused" in str(err.value)
    assert err.value.line == 3
    assert not marker.exists()


def test_session_refuses_to_switch_to_the_hostile_gguf_template(hostile_model: LlamaModel) -> None:
    # Its template parses; only rendering shows it is hostile, and the session stays put.
    session = TemplateSession(resolve_template("chatml"))
    err = session.switch("gguf", hostile_model.info, hostile_model.vocab)
    assert err is not None and err.problem is TemplateProblem.SECURITY
    assert session.template.name == "chatml"
    assert session.last_error is err
    assert (
        session.render(CONVERSATION[1:2])
        == "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"
    )


@pytest.mark.parametrize("source", ESCAPES)
def test_sandbox_escapes_are_refused(source: str) -> None:
    template = JinjaTemplate("evil", source)
    with pytest.raises(TemplateError) as err:
        template.render(CONVERSATION, True)
    assert err.value.problem is TemplateProblem.SECURITY
    assert "refused by the sandbox" in str(err.value)


# ---------------------------------------------------------------------------- malformed


def test_syntax_error_names_the_line() -> None:
    source = "{% for m in messages %}\n{{ m['content'] }}\n{% if m %}\n{% endfor %}\n"
    with pytest.raises(TemplateError) as err:
        JinjaTemplate("broken", source)
    assert err.value.problem is TemplateProblem.SYNTAX
    assert err.value.line == 4
    assert "line 4" in str(err.value)
    assert "syntax error" in str(err.value)


def test_raise_exception_surfaces_the_templates_own_message() -> None:
    template = JinjaTemplate(
        "strict",
        "{% if messages[0]['role'] != 'user' %}{{ raise_exception('users first!') }}{% endif %}ok",
    )
    with pytest.raises(TemplateError) as err:
        template.render(CONVERSATION, True)
    assert err.value.problem is TemplateProblem.RAISED
    assert "users first!" in str(err.value)
    assert template.render(CONVERSATION[1:], True) == "ok"


def test_undefined_value_is_reported() -> None:
    template = JinjaTemplate("undef", "line one\n{{ conversation.turns }}")
    with pytest.raises(TemplateError) as err:
        template.render(CONVERSATION, True)
    assert err.value.problem is TemplateProblem.UNDEFINED
    assert "conversation" in str(err.value)
    assert err.value.line == 2


def test_hf_helpers_are_available() -> None:
    template = JinjaTemplate(
        "helpers",
        "{{ messages[1] | tojson }}|{{ strftime_now('%Y') | length }}|"
        "{% for m in messages %}{% if loop.index > 1 %}{% break %}{% endif %}{{ m.role }}"
        "{% endfor %}|{% generation %}{{ eos_token }}{% endgeneration %}",
    )
    text = template.render(CONVERSATION, True, "<s>", "</s>")
    assert text == '{"role": "user", "content": "What is the capital of France?"}|4|system|</s>'


@pytest.mark.parametrize(
    "source",
    [
        "{% for i in range(100000000) %}x{% endfor %}",
        "{% for i in range(9000) %}{% for j in range(9000) %}{% endfor %}{% endfor %}",
        "{{ 'x' * 1000000000 }}",
        "{% for i in range(5000) %}{{ 'y' * 90000 }}{% endfor %}",
    ],
)
def test_runaway_templates_are_stopped(source: str) -> None:
    with pytest.raises(TemplateError) as err:
        JinjaTemplate("loop", source).render(CONVERSATION, True)
    assert err.value.problem is TemplateProblem.RUNAWAY


def test_session_keeps_the_previous_template_on_every_failure(tmp_path: Path) -> None:
    session = TemplateSession(resolve_template("chatml"))
    bad_file = tmp_path / "bad.jinja"
    bad_file.write_text("{% for m in messages %}\n{{ m.content }\n", encoding="utf-8")
    for candidate in (str(bad_file), "no-such-template", str(tmp_path / "missing.jinja")):
        assert session.switch(candidate) is not None
        assert session.template.name == "chatml"
    good = tmp_path / "mine.jinja"
    good.write_text("{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}")
    assert session.switch(str(good)) is None
    assert session.template.name == "mine"
    assert session.render(CONVERSATION[1:2], False) == "[user] What is the capital of France?\n"


def test_template_file_relative_to_config_folder(tmp_path: Path) -> None:
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "x.jinja").write_text("{{ messages | length }}")
    template = resolve_template("tpl/x.jinja", base_dir=tmp_path)
    assert template.render(CONVERSATION, True) == "4"
    assert not os.path.exists("tpl/x.jinja")
