"""The ``poselift`` command line: train, eval, bench."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

DEFAULT_WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / "lifter_tcn81.pt"


def _train(args: argparse.Namespace) -> None:
    from ..models.train import load_train_config, train

    overrides = {k: v for k, v in (("out", args.out), ("data", args.data), ("steps", args.steps)) if v is not None}
    best = train(load_train_config(args.config, overrides), progress=not args.quiet)
    print(f"best weights: {best}")


def _eval(args: argparse.Namespace) -> None:
    from ..models.checkpoint import load_weights
    from ..models.evaluate import evaluate, markdown_table
    from ..models.h36m import TEST_SUBJECTS, load_sequences

    model = load_weights(args.weights)
    sequences = load_sequences(args.subjects or TEST_SUBJECTS, args.data)
    results, tables = [], []
    for fps in args.fps:
        for source in args.sources:
            r = evaluate(model, sequences, source, fps=fps)
            results.append(r)
            tables.append(markdown_table(r))
            print(tables[-1] + "\n", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"weights": str(args.weights), "results": results}, indent=2))
    if args.markdown:
        Path(args.markdown).write_text("\n\n".join(tables) + "\n")


def _bench(args: argparse.Namespace) -> None:
    from ..models.checkpoint import load_weights
    from .bench import bench_lifter_step, format_table

    model = load_weights(args.weights)
    rows = bench_lifter_step(model, steps=args.steps, threads=args.threads)
    print(format_table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="poselift", description="Live monocular 3D human pose.")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train the lifter on Human3.6M (resumes from OUT/last.pt)")
    t.add_argument("--config", required=True, help="YAML config, e.g. assets/configs/lifter_tcn81.yaml")
    t.add_argument("--out", help="run folder (overrides the config)")
    t.add_argument("--data", help="Human3.6M folder (default: $POSELIFT_DATA or ../shared/data/h36m)")
    t.add_argument("--steps", type=int, help="total optimisation steps (overrides the config)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(run=_train)

    e = sub.add_parser("eval", help="Human3.6M protocol: S9/S11, all cameras, every frame")
    e.add_argument("--weights", default=DEFAULT_WEIGHTS, type=Path)
    e.add_argument("--data", help="Human3.6M folder")
    e.add_argument("--sources", nargs="+", choices=("gt", "sh"), default=["gt", "sh"],
                   help="2D input: projected ground truth and/or Stacked Hourglass detections")
    e.add_argument("--fps", nargs="+", type=float, default=[50.0], help="resample the 50 Hz input to these rates")
    e.add_argument("--subjects", nargs="+", help="override the test subjects")
    e.add_argument("--json", help="write the results as JSON")
    e.add_argument("--markdown", help="write the tables as markdown")
    e.set_defaults(run=_eval)

    b = sub.add_parser("bench", help="latency of the lifter's streaming step (median, p90)")
    b.add_argument("--weights", default=DEFAULT_WEIGHTS, type=Path)
    b.add_argument("--steps", type=int, default=2000)
    b.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    b.add_argument("--json", help="write the figures as JSON")
    b.set_defaults(run=_bench)
    return p


def main(argv: list[str] | None = None) -> int:
    from ..models.errors import ConfigError, DataError, WeightsError

    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except (ConfigError, DataError, WeightsError) as e:
        print(f"poselift {args.command}: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
