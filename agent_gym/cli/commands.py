"""The `agent-gym` command line: `eval` (run an environment against a model; `--ray auto` on a Ray cluster),
`compare` (two runs, paired), `rescore` (a store scored again), `report` (a static page), `run` (a notebook
headlessly with papermill) and `serve` (the embedded local model). Exit codes: 0 done, 1 a run failed its
thresholds or its model server, 2 bad arguments or input."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from agent_gym.cli import compare, evaluate, rescore
from agent_gym.errors import AgentGymError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="agent-gym", description="Environments, rollouts, data and training for LLM agents.")
    sub = parser.add_subparsers(dest="command", required=True)

    evaluate.add_parser(sub)
    compare.add_parser(sub)
    rescore.add_parser(sub)

    run = sub.add_parser("run", help="Execute a notebook headlessly with papermill into runs/<notebook>/<time>/.")
    run.add_argument("notebook", help="The notebook (.ipynb) to run.")
    run.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                     help="Set a parameter of the notebook's parameters cell (repeatable).")
    run.add_argument("--out", default=None, help="Folder of the run folders. Default: runs/ of the repository "
                                                 "holding the notebook.")
    run.set_defaults(handler=cmd_run)

    serve = sub.add_parser("serve", help="Serve the embedded local model on loopback until Ctrl-C.")
    serve.set_defaults(handler=cmd_serve)
    sub.add_parser("report", help="Write a static, offline HTML report of trajectory stores (see `agent-gym report -h`).",
                   add_help=False)
    return parser


def cmd_run(args: argparse.Namespace) -> int:
    from agent_gym.cli.notebook_run import parse_value, run_notebook

    parameters = {name: parse_value(value) for name, value in args.parameter}
    run_dir = run_notebook(args.notebook, parameters, out_root=args.out)
    print(run_dir)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from agent_gym.local.__main__ import main as local_main

    return local_main(["serve"]) or 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["report"]:  # its own parser: python -m agent_gym.widgets.export.report
        from agent_gym.widgets.export.report import main as report_main

        return report_main(argv[1:]) or 0
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except AgentGymError as exc:
        print(f"agent-gym {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
