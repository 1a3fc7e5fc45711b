"""Retake the README screenshot: the app on the demo clip, captured once it has drawn ``--frames``
results. Run under a display, e.g. ``xvfb-run -a -s "-screen 0 1600x900x24" python -m poselift.app.screenshot``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..engine.commands.options import MAX_PEOPLE, add_weights_arg, int_between
from ..engine.live.factory import DEMO_CLIP, PipelineOptions


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--video", type=Path, default=DEMO_CLIP)
    add_weights_arg(p)
    p.add_argument("--frames", type=int, default=120, help="results to wait for before the capture")
    p.add_argument("--people", type=int_between(1, MAX_PEOPLE, "a number of people"), default=1,
                   help="people to follow (the app's People choice)")
    p.add_argument("-o", "--out", type=Path, default=Path("docs/screenshot.png"))
    args = p.parse_args(argv)

    import pyqtgraph as pg
    from PySide6 import QtCore

    from ..engine.outputs.recorder import Recorder
    from .window import MainWindow, make_application

    app = make_application()
    pg.setConfigOptions(antialias=True)
    settings = QtCore.QSettings(str(args.out.with_suffix(".ini")), QtCore.QSettings.IniFormat)
    settings.clear()
    settings.setValue("comparison", True)
    settings.setValue("people", args.people)
    window = MainWindow(PipelineOptions(weights=args.weights), settings=settings,
                        recorder=Recorder(args.out.parent / ".screenshot-spool"))
    window.resize(1400, 640)
    window.show()
    window.playback.open_path(args.video)

    def capture() -> None:
        if window.worker.results < args.frames:
            return
        timer.stop()
        window.worker.source.pause()
        app.processEvents()
        args.out.parent.mkdir(parents=True, exist_ok=True)
        window.screen().grabWindow(window.winId()).save(str(args.out))
        stats = window.worker.stats()
        print(f"saved {args.out}: {window.worker.results} results, {stats['fps']:.1f} fps drawn, "
              f"latency {stats['latency_ms']:.0f} ms, dropped {stats['dropped']}")
        window.close()
        Path(settings.fileName()).unlink(missing_ok=True)

    timer = QtCore.QTimer(interval=50, timeout=capture)
    timer.start()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
