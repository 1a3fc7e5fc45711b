"""``python -m poselift``: the ``poselift`` command."""
import sys

from .engine.commands.main import main

sys.exit(main())
