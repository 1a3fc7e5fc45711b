"""``poselift card``: a model card (.json + .md) beside a lifter's weights."""
from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("card", help="write a model card (.json + .md) beside the weights")
    c.add_argument("--weights", type=Path, required=True, help="the weights (.pt) the card describes")
    c.add_argument("--eval", type=Path, nargs="+", required=True, help="JSON from `poselift eval --json` (one or more)")
    c.add_argument("--run", dest="run_dir", type=Path, nargs="+", required=True,
                   help="the training run folder (config.json, log.jsonl); several, in order, when one "
                        "started from another's weights")
    c.add_argument("--bench", type=Path, help="JSON from `poselift bench --json`")
    c.add_argument("-o", "--out", type=Path, required=True, help="card path without extension")
    c.add_argument("--notes", type=Path, help="markdown appended to the card (ablations, caveats)")
    c.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from ...models.card import write_card

    for path in write_card(args.weights, args.eval, args.run_dir, args.bench, args.out, args.notes):
        print(f"wrote {path}")
