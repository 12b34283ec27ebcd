"""Before and after, over HTTP: *decide* at concurrency 32 on two or more source trees at once.

Each tree's `src` folder is served by its own `idflow serve` (through
`PYTHONPATH`, so the installed dependencies are shared), on a store of its own,
beside one bare Starlette endpoint (`bench/bare_decide.py`). The windows
alternate, tree by tree and then the ceiling, `--rounds` times, and the order of
the trees is reversed every other round: the machine's speed drifts by up to a
third within minutes, and alternating keeps that drift out of the ratios. What
it prints is each tree's runs per second by round, its median share of bare
Starlette, and each later tree against the first, round by round.

    git archive HEAD src | tar -x -C /tmp/before      # the code as committed
    .venv/bin/python bench/http_ab.py /tmp/before/src src --rounds 4 --duration 7

It checks nothing beyond wrk's own count of errors: `http_runs.py` is the
benchmark of record, with its checks; this program is for deciding whether a
change is worth keeping.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

from http_runs import (
    BIN,
    Measure,
    _bare_command,
    _prepare_store,
    _serve,
    _server_env,
    _wrk,
)

CONCURRENCY = 32


def main() -> None:
    """Serve every tree and the ceiling, alternate their windows, print the ratios."""
    options = _options()
    trees = [str(Path(tree).resolve()) for tree in options.trees]
    for tree in trees:
        if not (Path(tree) / "idflow" / "__init__.py").is_file():
            sys.exit(f"{tree} is not a source tree: it has no idflow/__init__.py.")

    per_second: dict[str, list[float]] = {tree: [] for tree in [*trees, "bare"]}
    errors = 0
    with ExitStack() as stack:
        servers = []
        for tree in trees:
            scratch = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            env = {**_server_env(scratch, None), "PYTHONPATH": tree}
            _, auth = _prepare_store(env, 0)
            base = stack.enter_context(
                _serve([str(BIN / "idflow"), "serve"], env, str(scratch))
            )
            servers.append((tree, base, auth))
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        bare = stack.enter_context(
            _serve(
                _bare_command("starlette_app"),
                _server_env(scratch, None),
                str(scratch),
                health="/",
            )
        )
        for round_ in range(1, options.rounds + 1):
            order = servers if round_ % 2 else list(reversed(servers))
            for tree, base, auth in order:
                measure = _window(base, "bench-decide", auth, options, round_)
                per_second[tree].append(measure.per_second)
                errors += measure.errors
            measure = _window(bare, "bare-starlette", "", options, round_)
            per_second["bare"].append(measure.per_second)
            print(
                f"round {round_}: "
                + ", ".join(f"{v[-1]:,.0f}" for v in per_second.values()),
                flush=True,
            )

    _report(trees, per_second, errors)


def _window(
    base: str, flow: str, auth: str, options: argparse.Namespace, round_: int
) -> Measure:
    measure, _ = _wrk(
        base,
        flow,
        auth,
        0,
        CONCURRENCY,
        options,
        round_,
        count=lambda: 0,
        first_user=0,
    )
    return measure


def _report(trees: list[str], per_second: dict[str, list[float]], errors: int) -> None:
    bare = per_second["bare"]
    print()
    print("| tree | runs/s by round | median share of bare Starlette |")
    print("|---|---|---|")
    for name, values in per_second.items():
        shares = [value / ceiling for value, ceiling in zip(values, bare, strict=True)]
        rounds = ", ".join(f"{value:,.0f}" for value in values)
        print(f"| {name} | {rounds} | {statistics.median(shares):.0%} |")
    first = per_second[trees[0]]
    for tree in trees[1:]:
        ratios = ", ".join(
            f"{b / a:.2f}" for a, b in zip(first, per_second[tree], strict=True)
        )
        print(f"\n{tree} against {trees[0]}, by round: {ratios}")
    if errors:
        sys.exit(f"wrk counted {errors} errors: the figures above are not comparable.")


def _options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "trees", nargs="+", help="src folders to compare, the first as the baseline"
    )
    parser.add_argument("--duration", type=int, default=7, help="seconds per window")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up")
    parser.add_argument("--rounds", type=int, default=4, help="alternations")
    options = parser.parse_args()
    if len(options.trees) < 2:
        parser.error("name at least two source trees to compare")
    return options


if __name__ == "__main__":
    main()
