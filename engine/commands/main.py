"""``poselift``: the command line, one module per subcommand."""
from __future__ import annotations

import argparse
import sys

from ... import __version__
from ...errors import UserError
from . import bench, calibrate, card, compare, evaluate, export, process, stream, train
from .options import Parser

COMMANDS = (process, stream, export, train, evaluate, bench, compare, calibrate, card)


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="poselift", description="Live monocular 3D human pose: videos and images -> 3D clips -> other formats.",
        epilog="Start with `poselift process VIDEO -o out/`, then `poselift export out/NAME_3d.npz -o NAME.bvh`. "
               "`poselift COMMAND --help` lists a command's flags; `poselift-app [VIDEO]` opens the desktop app.")
    p.add_argument("--version", action="version", version=f"poselift {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except UserError as e:
        print(f"poselift {args.command}: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
