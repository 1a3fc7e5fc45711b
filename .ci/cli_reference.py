"""Writes each command's ``--help`` into docs/cli.md, between its ``<!-- help: CMD -->`` and
``<!-- /help -->`` lines, so that the reference's flag lists are the code's own.

    python3 .ci/cli_reference.py           # rewrite docs/cli.md
    python3 .ci/cli_reference.py --check   # exit 1, naming them, when any block differs from the code
"""
import contextlib
import io
import os
import re
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
BLOCK = re.compile(r"(<!-- help: (?P<cmd>[\w-]+) -->\n).*?(<!-- /help -->)", re.S)


def help_text(cmd: str) -> str:
    """``poselift CMD --help`` (``poselift-app --help`` for ``app``, ``poselift --help`` for ``poselift``)."""
    from poselift.app.main import main as app_main
    from poselift.engine.commands.main import main

    os.environ["COLUMNS"] = "100"  # the same wrapping on every terminal
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        if cmd == "app":
            app_main(["--help"])
        else:
            main(["--help"] if cmd == "poselift" else [cmd, "--help"])
    return out.getvalue()


def render(doc: str) -> str:
    return BLOCK.sub(lambda m: f"{m.group(1)}```text\n{help_text(m.group('cmd'))}```\n{m.group(3)}", doc)


if __name__ == "__main__":
    old = DOC.read_text()
    new = render(old)
    if "--check" in sys.argv[1:]:
        stale = [m.group("cmd") for m, n in zip(BLOCK.finditer(old), BLOCK.finditer(new)) if m.group(0) != n.group(0)]
        if stale:
            sys.exit(f"docs/cli.md is out of date for {', '.join(stale)}: run python3 .ci/cli_reference.py")
    else:
        DOC.write_text(new)
