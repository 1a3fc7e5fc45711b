"""``poselift train``: a lifter or the refiner from a YAML config (resumes from ``OUT/last.pt``)."""
from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser("train", help="train a lifter or the refiner from a YAML config (resumes from OUT/last.pt)")
    t.add_argument("--config", required=True, help="YAML config, e.g. assets/configs/lifter_tcn81.yaml")
    t.add_argument("--out", help="run folder (overrides the config)")
    t.add_argument("--data", help="Human3.6M folder (default: $POSELIFT_DATA or ../shared/data/h36m)")
    t.add_argument("--steps", type=int, help="total optimisation steps (overrides the config)")
    t.add_argument("--minutes", type=float, help="wall-clock budget of this run: past it, validate, checkpoint and "
                                                 "stop (it resumes from there); overrides the config's max_minutes")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.add_argument("--export-latest", type=Path, metavar="PT",
                   help="train nothing: write the run's latest EMA weights (OUT/last.pt) to this file")
    t.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from ...models.refiner_train import is_refiner_config, load_refiner_config, train_refiner
    from ...models.train import export_latest, load_train_config, train

    overrides = {k: v for k, v in (("out", args.out), ("data", args.data), ("steps", args.steps),
                                   ("max_minutes", args.minutes)) if v is not None}
    if args.export_latest:
        print(f"latest weights: {export_latest(load_train_config(args.config, overrides), args.export_latest)}")
        return
    if is_refiner_config(args.config):
        best = train_refiner(load_refiner_config(args.config, overrides), progress=not args.quiet)
    else:
        best = train(load_train_config(args.config, overrides), progress=not args.quiet)
    print(f"best weights: {best}")
