"""The live joint-angle plot, with the picker of the angle it shows."""
from __future__ import annotations

from collections import deque

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from .views import SIDE_RGBA


class AnglePlot(pg.PlotWidget):
    """The last seconds of one joint angle, left and right (or one trunk/pelvis angle), live, titled
    with the angle's name; the angle is picked in the plot's top-right corner (``picker``)."""

    CHOICES = {"hip flexion": ("hip_flexion_l", "hip_flexion_r"), "knee flexion": ("knee_flexion_l", "knee_flexion_r"),
               "hip abduction": ("hip_abduction_l", "hip_abduction_r"),
               "shank inclination": ("shank_inclination_l", "shank_inclination_r"),
               "shoulder flexion": ("shoulder_flexion_l", "shoulder_flexion_r"),
               "elbow flexion": ("elbow_flexion_l", "elbow_flexion_r"),
               "trunk flexion": ("trunk_flexion",), "trunk lateral lean": ("trunk_lateral",),
               "pelvis tilt": ("pelvis_tilt",), "pelvis obliquity": ("pelvis_obliquity",)}
    WINDOW_S = 10.0

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setBackground((24, 24, 28))
        self.setLabel("bottom", "seconds ago")
        self.showGrid(x=True, y=True, alpha=0.2)
        self.addLegend(offset=(5, 5))
        colours = [[int(255 * c) for c in SIDE_RGBA[side][:3]] for side in (-1, 1)]
        self.curves = [self.plot([], [], pen=pg.mkPen(colours[i], width=2), name=("left", "right")[i]) for i in range(2)]
        self._samples: deque[tuple[float, dict]] = deque()
        self.picker = QtWidgets.QComboBox(self, toolTip="The joint angle plotted")
        self.picker.addItems(list(self.CHOICES))
        corner = QtWidgets.QGridLayout(self)
        corner.setContentsMargins(0, 3, 6, 0)
        corner.addWidget(self.picker, 0, 0, QtCore.Qt.AlignTop | QtCore.Qt.AlignRight)
        self.picker.currentTextChanged.connect(self._chosen)
        self._chosen(self.picker.currentText())

    def choose(self, name: str) -> None:
        self.picker.setCurrentText(name)

    def title(self) -> str:
        """The angle shown, and its unit."""
        return self.getPlotItem().titleLabel.text

    def _chosen(self, name: str) -> None:
        self.choice = name
        self.setTitle(f"{name.capitalize()} (deg)", size="10pt", justify="left")
        self._redraw()

    def add(self, t: float, angles: dict[str, float] | None) -> None:
        """One frame's angles (None: no person; the curve breaks)."""
        if self._samples and t < self._samples[-1][0]:
            self._samples.clear()  # a seek or a new source
        self._samples.append((t, angles or {}))
        while self._samples and self._samples[0][0] < t - self.WINDOW_S:
            self._samples.popleft()
        self._redraw()

    def _redraw(self) -> None:
        if not self._samples:
            for c in self.curves:
                c.setData([], [])
            return
        now = self._samples[-1][0]
        x = np.array([t - now for t, _ in self._samples])
        names = self.CHOICES[self.choice]
        for i, curve in enumerate(self.curves):
            if i < len(names):
                y = np.array([a.get(names[i], np.nan) for _, a in self._samples], float)
                curve.setData(x, y, connect="finite")
            else:
                curve.setData([], [])

