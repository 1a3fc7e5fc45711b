"""What the window's parts that drive the worker have in common: they speak to the status bar."""
from __future__ import annotations

from PySide6 import QtCore, QtWidgets


class Panel(QtCore.QObject):
    """A part of the window (playback, recording, streaming). ``info`` is a sentence for the status bar
    and how long to show it (ms); ``failed`` a sentence that stays until the next."""

    info = QtCore.Signal(str, int)
    failed = QtCore.Signal(str)

    def __init__(self, window: QtWidgets.QWidget):
        super().__init__(window)
