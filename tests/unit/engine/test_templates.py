"""Tests for `{{ path }}` templates and compiled argument values."""

from __future__ import annotations

from typing import Any

import pytest

from idflow.engine.templates import (
    Template,
    compile_template,
    compile_value,
    render_template,
    render_value,
    template_paths,
)
from idflow.errors import FlowDefinitionError, TemplateError


def make_context() -> dict[str, Any]:
    return {
        "client": {"count": 120, "ratio": 0.5, "whole": 3.0, "items": ["a", "b"]},
        "user": {"email": "ann@example.com", "verified": True, "meta": {"a": 1}},
        "nothing": None,
    }


def test_a_string_without_placeholders_renders_to_itself() -> None:
    text = "plain text with } and { braces"

    assert compile_template(text).render(make_context()) is text


def test_an_empty_string_renders_to_itself() -> None:
    assert compile_template("").render({}) == ""


def test_a_whole_placeholder_keeps_the_type_of_the_value() -> None:
    context = make_context()

    assert compile_template("{{client.count}}").render(context) == 120
    assert compile_template("{{ user.meta }}").render(context) == {"a": 1}
    assert compile_template("{{user.verified}}").render(context) is True
    assert compile_template("{{client.items}}").render(context) == ["a", "b"]


def test_a_whole_placeholder_for_a_missing_path_renders_none() -> None:
    assert compile_template("{{ user.phone }}").render(make_context()) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hi {{user.email}}!", "Hi ann@example.com!"),
        ("n={{ client.count }}", "n=120"),
        ("r={{client.ratio}}", "r=0.5"),
        ("w={{client.whole}}", "w=3"),
        ("v={{user.verified}}", "v=true"),
        ("m={{user.meta}}", 'm={"a":1}'),
        ("i={{client.items}}", 'i=["a","b"]'),
        ("[{{nothing}}][{{user.phone}}]", "[][]"),
        ("{{client.items.0}}{{client.items.1}}", "ab"),
    ],
)
def test_interpolation_writes_the_text_form_of_each_value(
    text: str, expected: str
) -> None:
    assert compile_template(text).render(make_context()) == expected


def test_a_placeholder_with_surrounding_text_is_interpolated_not_typed() -> None:
    assert compile_template(" {{client.count}}").render(make_context()) == " 120"


def test_a_lone_closing_pair_is_plain_text() -> None:
    assert (
        compile_template("a }} b {{client.count}}").render(make_context())
        == "a }} b 120"
    )


def test_text_after_a_placeholder_keeps_an_extra_closing_brace() -> None:
    assert (
        compile_template('{"n":{{client.count}}}').render(make_context()) == '{"n":120}'
    )


def test_whitespace_inside_the_braces_is_optional() -> None:
    assert (
        compile_template("{{user.email}}").paths
        == compile_template("{{  user.email\t}}").paths
    )


def test_compile_template_returns_the_cached_template_for_the_same_text() -> None:
    assert compile_template("x {{a.b}}") is compile_template("x {{a.b}}")


def test_template_paths_lists_each_path_once_in_order() -> None:
    assert template_paths("{{b}} {{a.c}} {{b}} {{client.items.0}}") == (
        "b",
        "a.c",
        "client.items.0",
    )
    assert template_paths("no placeholders") == ()


def test_render_template_compiles_and_renders_in_one_call() -> None:
    assert render_template("{{client.count}}", make_context()) == 120


def test_templates_are_frozen() -> None:
    template = compile_template("{{a}}")

    assert isinstance(template, Template)
    with pytest.raises(AttributeError):
        template.text = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Hi {{ user.email", r"unclosed '\{\{' at position 3; expected '\}\}'"),
        ("Hi {{ }}", r"empty placeholder at position 3; expected a context path"),
        ("{{}}", r"empty placeholder at position 0"),
        ("x {{user email}}", r"path 'user email' at position 2; expected only letters"),
        ("{{user.email | upper}}", r"expected only letters"),
        ("{{ 1 + 2 }}", r"expected only letters"),
        ("{{{user}}}", r"path '\{user' at position 0"),
        ("{{user..email}}", r"expected names joined by single dots"),
        ("{{.user}}", r"expected names joined by single dots"),
    ],
)
def test_a_malformed_template_raises_naming_the_text_and_position(
    text: str, message: str
) -> None:
    with pytest.raises(TemplateError, match=message) as caught:
        compile_template(text)

    assert repr(text) in str(caught.value)
    assert str(caught.value).endswith(".")


def test_template_errors_are_flow_definition_errors() -> None:
    with pytest.raises(FlowDefinitionError):
        compile_template("{{")


def test_compile_value_renders_templates_at_any_depth() -> None:
    value = {
        "to": "{{user.email}}",
        "count": "{{client.count}}",
        "static": 7,
        "list": ["{{client.items.1}}", {"deep": "n={{client.count}}"}, None, True],
    }

    rendered = compile_value(value).render(make_context())

    assert rendered == {
        "to": "ann@example.com",
        "count": 120,
        "static": 7,
        "list": ["b", {"deep": "n=120"}, None, True],
    }


def test_compile_value_lists_every_path_its_strings_read() -> None:
    compiled = compile_value({"a": "{{x}} {{y.z}}", "b": ["{{x}}", "{{w}}"], "c": 1})

    assert compiled.paths == ("x", "y.z", "w")


def test_compile_value_never_treats_keys_as_templates() -> None:
    rendered = compile_value({"{{user.email}}": "v"}).render(make_context())

    assert rendered == {"{{user.email}}": "v"}


def test_rendered_containers_are_fresh_on_every_call() -> None:
    compiled = compile_value({"a": [1, 2]})

    first = compiled.render({})
    first["a"].append(3)

    assert compiled.render({}) == {"a": [1, 2]}
    assert compiled.source == {"a": [1, 2]}


def test_compile_value_raises_for_a_malformed_nested_template() -> None:
    with pytest.raises(TemplateError, match="unclosed"):
        compile_value({"a": ["ok", "{{broken"]})


def test_render_value_compiles_and_renders_in_one_call() -> None:
    assert render_value(["{{client.count}}", "x"], make_context()) == [120, "x"]
