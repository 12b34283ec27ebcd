"""The docs tell the truth about the code: actions, operators, settings, examples."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import pytest

import idflow.cli.app  # noqa: F401  (adds every command group to the root command)
from idflow.cli.root import cli
from idflow.engine.operators import OPERATOR_NAMES
from idflow.flows.catalogue import ACTIONS
from idflow.flows.files import decode_text, document_from_data
from idflow.services.audit import AuditAction
from idflow.services.flows import check_document
from idflow.settings import Settings
from idflow.store.tables import metadata

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SRC = ROOT / "src" / "idflow"

# A fenced block is a complete flow when the line before it is this comment; the
# comment may name an example file the block must equal: <!-- complete flow: path -->.
COMPLETE_FLOW = re.compile(r"<!-- complete flow(?::\s*(?P<path>\S+))?\s*-->")
COMPILED_FROM_ABOVE = "<!-- compiled from the flow above -->"

# docs/api.md is written with the API itself; links to it are checked once it exists.
WRITTEN_ELSEWHERE = {"api.md"}


@dataclass(frozen=True)
class Block:
    """A fenced code block of a docs page and the marker comment just above it."""

    page: str
    line: int
    language: str
    text: str
    marker: str

    @property
    def source(self) -> str:
        suffix = ".json" if self.language == "json" else ".yaml"
        return f"{self.page}:{self.line}{suffix}"

    def decode(self) -> Any:
        return decode_text(self.text, self.source)


def _read(page: str) -> str:
    return (DOCS / page).read_text(encoding="utf-8")


def _blocks(page: str) -> list[Block]:
    lines = _read(page).splitlines()
    blocks = []
    index = 0
    while index < len(lines):
        opening = re.match(r"^```(\w*)", lines[index])
        if opening is None:
            index += 1
            continue
        start = index
        index += 1
        body = []
        while not lines[index].startswith("```"):
            body.append(lines[index])
            index += 1
        above = next((ln for ln in reversed(lines[:start]) if ln.strip()), "")
        marker = above.strip() if above.strip().startswith("<!--") else ""
        blocks.append(
            Block(page, start + 1, opening[1], "\n".join(body) + "\n", marker)
        )
        index += 1
    return blocks


def _complete_flows() -> list[Block]:
    return [b for b in _blocks("flow-format.md") if COMPLETE_FLOW.fullmatch(b.marker)]


def _table_rows(text: str) -> Iterator[list[str]]:
    for line in text.splitlines():
        if line.startswith("|") and not re.match(r"^\|[-| ]+\|$", line):
            yield [cell.strip() for cell in line.strip("|").split("|")]


def _section(text: str, heading: str) -> str:
    """The text under a heading, up to the next heading of the same or a higher level."""
    level = len(heading) - len(heading.lstrip("#"))
    lines = text.splitlines()
    start = lines.index(heading) + 1
    for end in range(start, len(lines)):
        match = re.match(r"^(#+) ", lines[end])
        if match and len(match[1]) <= level:
            return "\n".join(lines[start:end])
    return "\n".join(lines[start:])


def _code_names(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def test_every_catalogue_action_has_its_own_section_in_actions_md() -> None:
    headings = set(re.findall(r"^### `([a-z-]+)`$", _read("actions.md"), re.M))

    assert sorted(set(ACTIONS) - headings) == []


def test_actions_md_documents_no_action_the_catalogue_lacks() -> None:
    headings = set(re.findall(r"^### `([a-z-]+)`$", _read("actions.md"), re.M))

    assert sorted(headings - set(ACTIONS)) == []


@pytest.mark.parametrize("action_id", sorted(ACTIONS))
def test_each_action_section_lists_exactly_its_arguments_with_kind_and_requirement(
    action_id: str,
) -> None:
    section = _section(_read("actions.md"), f"### `{action_id}`")
    documented = {
        _code_names(row[0])[0]: (row[1], row[2])
        for row in _table_rows(section)
        if row[0] != "Argument"
    }
    expected = {
        spec.name: (str(spec.kind), "yes" if spec.required else "no")
        for spec in ACTIONS[action_id].arguments
    }

    assert documented == expected


def test_every_operator_the_engine_accepts_is_in_the_operator_table() -> None:
    section = _section(_read("flow-format.md"), "## Condition operators")
    documented = {
        _code_names(row[0])[0] for row in _table_rows(section) if row[0] != "Operator"
    }

    assert sorted(OPERATOR_NAMES - documented) == []


def test_the_operator_table_holds_no_operator_the_engine_lacks() -> None:
    section = _section(_read("flow-format.md"), "## Condition operators")
    documented = {
        _code_names(row[0])[0] for row in _table_rows(section) if row[0] != "Operator"
    }

    assert sorted(documented - OPERATOR_NAMES) == []


def _settings_variables() -> set[str]:
    code = (SRC / "settings.py").read_text(encoding="utf-8")
    cli_root = (SRC / "cli" / "root.py").read_text(encoding="utf-8")
    quoted = re.compile(r"[\"'](IDFLOW_[A-Z_]+)[\"']")
    return set(quoted.findall(code)) | set(quoted.findall(cli_root))


def test_every_setting_idflow_reads_is_documented() -> None:
    variables = _settings_variables()
    docs = _read("operations.md") + _read("cli.md")

    assert len(variables) >= 9
    assert sorted(v for v in variables if f"`{v}`" not in docs) == []


def test_the_settings_table_in_cli_md_gives_the_real_defaults() -> None:
    defaults = Settings()
    section = _section(_read("cli.md"), "## Settings")
    mismatches = []
    for row in _table_rows(section):
        names = _code_names(row[0])
        if not names or row[0] == "Variable":
            continue
        attribute = names[0].removeprefix("IDFLOW_").lower()
        if not hasattr(defaults, attribute):
            continue
        value = getattr(defaults, attribute)
        shown = f"{value:g}" if isinstance(value, float) else str(value)
        if _code_names(row[1]) != [shown]:
            mismatches.append((names[0], row[1], shown))

    assert mismatches == []


def test_flow_format_md_marks_its_complete_flows() -> None:
    assert len(_complete_flows()) >= 4


@pytest.mark.parametrize("block", _complete_flows(), ids=lambda b: b.source)
def test_every_complete_flow_in_flow_format_md_validates(block: Block) -> None:
    document = document_from_data(block.decode(), block.source)

    flow = check_document(document, block.source)

    assert flow.flow_id


def test_the_worked_example_is_the_example_file_as_it_stands() -> None:
    named = [
        (b, match["path"])
        for b in _complete_flows()
        if (match := COMPLETE_FLOW.fullmatch(b.marker)) and match["path"]
    ]
    assert named

    for block, path in named:
        example = ROOT / path
        assert block.decode() == decode_text(example.read_text("utf-8"), str(example))


def test_the_compiled_document_shown_is_what_the_compiler_produces() -> None:
    blocks = _blocks("flow-format.md")
    compiled = [i for i, b in enumerate(blocks) if b.marker == COMPILED_FROM_ABOVE]
    assert compiled

    for index in compiled:
        source = next(
            b for b in reversed(blocks[:index]) if COMPLETE_FLOW.fullmatch(b.marker)
        )
        expected = document_from_data(source.decode(), source.source)
        assert blocks[index].decode() == expected


def test_every_log_event_name_in_the_code_is_documented() -> None:
    used: set[str] = set()
    for path in SRC.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        used.update(re.findall(r"[\"']event_name[\"']:\s*[\"']([a-z_]+)[\"']", text))
    section = _section(_read("operations.md"), "### Event names")
    documented = {
        names[0] for row in _table_rows(section) if (names := _code_names(row[0]))
    }

    assert len(used) >= 7
    assert sorted(used - documented) == []


def test_every_audit_event_type_is_documented() -> None:
    section = _section(_read("events.md"), "## Event types")
    documented = {
        names[0] for row in _table_rows(section) if (names := _code_names(row[0]))
    }

    assert sorted({str(a) for a in AuditAction} - documented) == []


def test_every_store_table_is_in_the_architecture_table() -> None:
    section = _section(_read("architecture.md"), "## The store")
    documented = {
        names[0] for row in _table_rows(section) if (names := _code_names(row[0]))
    }

    assert sorted(set(metadata.tables) - documented) == []


def _anchors(page: Path) -> set[str]:
    text = page.read_text(encoding="utf-8")
    anchors = set(re.findall(r'<a id="([^"]+)">', text))
    for heading in re.findall(r"^#+ (.+)$", text, re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        anchors.add(slug)
    return anchors


def _links() -> Iterator[tuple[Path, str, str]]:
    for page in sorted(DOCS.rglob("*.md")):
        text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if not re.match(r"^[a-z]+:", target):
                path, _, anchor = target.partition("#")
                yield page, path, anchor


def test_every_link_between_docs_pages_leads_to_a_page_and_heading() -> None:
    broken = []
    for page, path, anchor in _links():
        target = (page.parent / path).resolve() if path else page
        if not target.exists():
            if target.name not in WRITTEN_ELSEWHERE:
                broken.append(f"{page.name}: {path}")
            continue
        if anchor and target.suffix == ".md" and anchor not in _anchors(target):
            broken.append(f"{page.name}: {path}#{anchor}")

    assert broken == []


def _commands(
    group: click.Group, prefix: str = "idflow"
) -> Iterator[tuple[str, click.Command]]:
    for name, command in sorted(group.commands.items()):
        path = f"{prefix} {name}"
        if isinstance(command, click.Group):
            yield from _commands(command, path)
        else:
            yield path, command


def test_every_cli_command_has_a_heading_in_cli_md() -> None:
    headings = "\n".join(re.findall(r"^#+ .+$", _read("cli.md"), re.M))

    missing = [path for path, _ in _commands(cli) if f"`{path}" not in headings]

    assert missing == []


def test_every_cli_option_is_documented_in_cli_md() -> None:
    text = _read("cli.md")
    options = {
        name
        for _, command in _commands(cli)
        for param in command.params
        if isinstance(param, click.Option)
        for name in param.opts
        if name.startswith("--")
    }
    options.update(o for p in cli.params for o in p.opts if o.startswith("--"))

    assert sorted(o for o in options if f"`{o}" not in text) == []
