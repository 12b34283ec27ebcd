"""The text form of a run: each step's marks from the trace, after its outcome."""

from __future__ import annotations

import pytest

from idflow.cli.output import print_run
from idflow.store.records import Run, RunStatus, RunTrigger


def test_a_runs_steps_show_where_it_committed_resumed_and_left_calls_out(
    capsys: pytest.CaptureFixture[str],
) -> None:
    run = Run(
        project_id="P1",
        run_id="R1",
        flow_id="f",
        flow_version=1,
        trigger=RunTrigger.EVENT,
        status=RunStatus.COMPLETED,
        started_ms=0,
        finished_ms=5,
        trace=(
            {"taskId": "note", "action": "audit-generate-event", "outcome": "success"},
            {
                "taskId": "call",
                "action": "http-connector",
                "outcome": "success",
                "checkpoint": True,
                "resumed": True,
            },
            {
                "taskId": "later",
                "action": "http-connector",
                "outcome": "success",
                "preview": "not called",
            },
            {"taskId": "done", "type": "end", "outcome": "end"},
        ),
    )

    print_run(run)

    lines = capsys.readouterr().out.splitlines()
    steps = {
        line.split()[1]: line
        for line in lines
        if line.strip()[:2].strip(". ").isdigit()
    }
    assert steps["note"].endswith("success")
    assert steps["call"].endswith("success  (resumed here, committed before the call)")
    assert steps["later"].endswith("success  (preview: not called)")
    assert steps["done"].endswith("end")
