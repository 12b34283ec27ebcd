"""Printing for people and for machines: JSON, tables and run traces."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import click
import orjson

from idflow.store.records import Run


def print_json(value: Any) -> None:
    """Print a value as indented JSON on stdout."""
    sys.stdout.write(
        orjson.dumps(value, option=orjson.OPT_INDENT_2, default=str).decode() + "\n"
    )


def compact(value: Any) -> str:
    """Render a value as one line of JSON."""
    return orjson.dumps(value, default=str).decode()


def print_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Print rows under headers, columns padded to their widest cell."""
    cells = [
        [str(c) for c in headers],
        *([("" if c is None else str(c)) for c in row] for row in rows),
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for index, row in enumerate(cells):
        line = "  ".join(
            cell.ljust(width) for cell, width in zip(row, widths, strict=True)
        ).rstrip()
        click.echo(click.style(line, bold=True) if index == 0 else line)


def when(ms: int | None) -> str:
    """Render epoch milliseconds as a UTC timestamp to the second."""
    if ms is None:
        return "-"
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def run_to_json(run: Run) -> dict[str, Any]:
    """The full run record, as `runs show --json` prints it."""
    return {
        "runId": run.run_id,
        "projectId": run.project_id,
        "flowId": run.flow_id,
        "flowVersion": run.flow_version,
        "trigger": str(run.trigger),
        "status": str(run.status),
        "startedTime": run.started_ms,
        "finishedTime": run.finished_ms,
        "inputs": run.inputs,
        "outputs": run.outputs,
        "error": run.error,
        "triggeringEventId": run.triggering_event_id,
        "trace": list(run.trace),
    }


def print_run(run: Run) -> None:
    """Print a run and its trace, step by step, readable in a terminal."""
    took = (
        f"{run.finished_ms - run.started_ms} ms" if run.finished_ms else "still running"
    )
    colour = "green" if str(run.status) == "completed" else "red"
    click.echo(
        f"Run {run.run_id}  flow {run.flow_id} v{run.flow_version}  "
        f"({run.trigger}, {when(run.started_ms)} UTC, {took})  "
        + click.style(str(run.status), fg=colour, bold=True)
    )
    click.echo(f"Inputs:  {compact(run.inputs)}")
    for number, step in enumerate(run.trace, start=1):
        _print_step(number, step)
    if run.outputs is not None:
        click.echo(f"Output:  {compact(run.outputs)}")
    if run.error:
        click.echo(
            click.style(
                f"Error:   {run.error.get('code')} at task {run.error.get('taskId')!r}: {run.error.get('message')}",
                fg="red",
            )
        )


def _marks(step: Mapping[str, Any]) -> str:
    # What the trace says of the step beyond its outcome, in the words of
    # docs/operations.md (reading a run trace).
    marks = []
    if step.get("resumed"):
        marks.append("resumed here")
    if step.get("checkpoint"):
        marks.append("committed before the call")
    if step.get("background"):
        marks.append("called in the background")
    if step.get("preview"):
        marks.append("preview: not called")
    if step.get("errorIgnored"):
        marks.append("error ignored")
    return f"  ({', '.join(marks)})" if marks else ""


def _print_step(number: int, step: Mapping[str, Any]) -> None:
    kind = step.get("action") or step.get("type", "")
    outcome = step.get("outcome", "")
    if step.get("type") == "condition":
        outcome = f"-> {step.get('branch')}"
    # The duration comes before the outcome: branch names vary in length, and
    # a free-length column is only readable as the last one.
    click.echo(
        f"  {number:>2}. {step.get('taskId', '')!s:<16} {kind!s:<22} "
        f"{step.get('durationMs', 0):>8.2f} ms  {outcome!s}{_marks(step)}"
    )
    for branch in step.get("branches", []):
        for operand in branch.get("operands", []):
            value = (
                "(missing)" if operand.get("missing") else compact(operand.get("value"))
            )
            verdict = "true" if operand.get("result") else "false"
            predicate = operand.get("predicate")
            # Unary operators (is-true, empty, ...) carry an empty predicate.
            shown = "" if predicate in (None, "") else f" {compact(predicate)}"
            click.echo(
                f"        {branch.get('branch')}: {operand.get('target')} = {value} "
                f"{operand.get('operator')}{shown} -> {verdict}"
            )
    error = step.get("error")
    if error:
        note = " (ignored)" if step.get("errorIgnored") else ""
        click.echo(f"        error {error.get('code')}: {error.get('message')}{note}")
