"""The real window under Xvfb: a demo clip plays, every switch is toggled, a recording is made and
exported, and bad input is answered with one sentence."""
import os
import time

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(not os.environ.get("DISPLAY"),
                                reason="no X display: run the tests under xvfb-run (see README)")

from conftest import DEMO, write_video  # noqa: E402


@pytest.fixture(scope="module")
def qapp():
    from poselift.app.window import make_application
    return make_application()


def wait_until(app, condition, timeout=30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        app.processEvents()
        if condition():
            return True
        time.sleep(0.01)
    return False


@pytest.fixture
def make_window(qapp, tmp_path, random_weights, random_refiner):
    from PySide6 import QtCore

    from poselift.app.window import MainWindow
    from poselift.engine.live.factory import PipelineOptions
    from poselift.engine.outputs.recorder import Recorder
    windows = []

    def make(refiner=random_refiner):
        settings = QtCore.QSettings(str(tmp_path / "settings.ini"), QtCore.QSettings.IniFormat)
        w = MainWindow(PipelineOptions(weights=random_weights, refiner=refiner), settings=settings,
                       recorder=Recorder(tmp_path / "spool"))
        w.resize(1200, 600)
        w.show()
        windows.append(w)
        return w

    yield make
    for w in windows:
        w.close()


def test_plays_the_demo_toggles_records_and_exports(qapp, make_window, tmp_path):
    from poselift.engine.outputs.clip import Clip
    w = make_window()
    assert w.playback.open_path(DEMO)
    assert wait_until(qapp, lambda: w.worker.results >= 30 and w._shown is not None and w._shown[1].person)
    # 3D view: 17 joints and 16 bones (two line endpoints each) for H36M-17.
    assert w.skeleton.joints.pos.shape == (17, 3)
    assert w.skeleton.bones.pos.shape == (32, 3)
    assert w.video.overlay_point_count() == 17
    frame_before = w.video.image.image.copy()
    assert wait_until(qapp, lambda: not np.array_equal(w.video.image.image, frame_before))  # the video moves on

    w.controls.format_box.setCurrentText("COCO-17")
    assert w.skeleton.joints.pos.shape == (17, 3) and w.skeleton.bones.pos.shape == (32, 3)
    w.controls.format_box.setCurrentText("MPI-INF-3DHP-17")
    assert w.skeleton.bones.pos.shape == (32, 3)
    w.controls.format_box.setCurrentText("H36M-17")
    assert not w.skeleton.legend.isVisible()
    # fused with MediaPipe's 3D by default (the lift before it kept beside), the lift alone when switched off
    assert w.controls.fusion_box.isChecked() and wait_until(qapp, lambda: w._shown[1].lifted is not None)
    w.controls.fusion_box.setChecked(False)
    assert wait_until(qapp, lambda: w.worker.pipeline.fusion is None and w._shown[1].lifted is None)
    w.controls.fusion_box.setChecked(True)
    assert wait_until(qapp, lambda: w._shown[1].lifted is not None and w._shown[1].fused.max() > 0)
    w.controls.compare_box.setChecked(True)
    assert w.skeleton.comparison.pos.shape == (32, 3)  # MediaPipe's own 3D drawn beside
    assert w.skeleton.legend.isVisible() and "MediaPipe's own 3D" in w.skeleton.legend.text()
    w.controls.compare_box.setChecked(False)
    assert len(w.skeleton.comparison.pos) == 0 and not w.skeleton.legend.isVisible()
    w.controls.overlay_box.setChecked(False)
    assert w.video.overlay_point_count() == 0
    w.controls.overlay_box.setChecked(True)
    assert w.video.overlay_point_count() == 17
    w.controls.smooth_box.setChecked(True)
    w.controls.smooth_slider.setValue(9)
    assert w.controls.smoothing_cutoff() == pytest.approx(1.0)
    assert wait_until(qapp, lambda: w.worker.pipeline.smoothing is not None
                      and w.worker.pipeline.smoothing.min_cutoff == pytest.approx(1.0))
    from PySide6 import QtCore
    backends = w.controls.backend_box
    tips = [backends.itemData(i, QtCore.Qt.ToolTipRole) for i in range(backends.count())]
    assert "onnx" in [backends.itemText(i) for i in range(backends.count())]
    assert all(tip and tip.startswith(backends.itemText(i)) for i, tip in enumerate(tips))
    w.controls.backend_box.setCurrentText("onnx")
    assert wait_until(qapp, lambda: w.worker.pipeline.lifter.name == "onnx")
    assert wait_until(qapp, lambda: "backend onnx" in w.backend_label.text())
    w.controls.threshold_box.setValue(10)
    w.controls.refine_box.setChecked(True)  # every joint of a random lifter is unsure by 10 mm: all are resampled
    assert wait_until(qapp, lambda: w.worker.pipeline.refiner is not None and w._shown[1].refined[1:].all())
    assert wait_until(qapp, lambda: len(w.skeleton.resampled.pos) == 16)  # ringed in the 3D view
    w.controls.threshold_box.setValue(300)
    assert wait_until(qapp, lambda: w.worker.pipeline.refiner.settings.threshold_mm == 300.0)
    w.controls.refine_box.setChecked(False)
    assert wait_until(qapp, lambda: w.worker.pipeline.refiner is None and not w._shown[1].refined.any())
    assert wait_until(qapp, lambda: len(w.skeleton.resampled.pos) == 0)

    w.playback.toggle_play()  # pause
    assert w.worker.source.paused
    w.playback.toggle_play()
    assert not w.worker.source.paused

    w.recording.start()
    assert wait_until(qapp, lambda: w.recording.recorder.frames >= 20)
    assert wait_until(qapp, lambda: "REC" in w.recording.record_label.text())
    spool = w.recording.stop()
    shown = w._shown[1]  # recorded before it was drawn, and drawn before the recording stopped
    assert spool is not None and w.recording.export_action.isEnabled()
    w.show_error("an earlier problem")
    bvh = w.recording.export(tmp_path / "take1.bvh")
    assert bvh.read_text().startswith("HIERARCHY") and spool.exists()  # kept until saved as a clip
    assert w.statusBar().currentMessage().startswith("Saved") and "e05050" not in w.statusBar().styleSheet()
    out = w.recording.export(tmp_path / "take1.npz")
    clip = Clip.load(out)
    assert len(clip) >= 20 and clip.meta["model"]["weights"] == "random.pt"
    # The app works on frames scaled to 1280 px; the recording is in the video's own 1768 x 994 pixels.
    assert (clip.meta["camera"]["width"], clip.meta["camera"]["height"]) == (1768, 994)
    [same] = np.flatnonzero(np.isclose(clip.timestamps, shown.timestamp))
    assert np.allclose(clip.keypoints[same], shown.keypoints * [1768 / 1280, 994 / shown.image_size[1]], atol=0.1)
    assert np.isfinite(clip.pose3d[~np.isnan(clip.pose3d).any(axis=(1, 2))]).all()
    assert not spool.exists()
    assert "fps" in w.fps_label.text() and "latency" in w.latency_label.text()
    assert str(DEMO) in w.playback.recent_files()


def test_settings_persist_between_runs(qapp, make_window, capfd):
    w = make_window()
    w.controls.format_box.setCurrentText("COCO-17")
    w.controls.overlay_box.setChecked(False)
    w.controls.smooth_box.setChecked(True)
    w.controls.refine_box.setChecked(True)
    w.controls.threshold_box.setValue(90)
    w.close()
    again = make_window()
    assert again.controls.format_box.currentText() == "COCO-17"
    assert not again.controls.overlay_box.isChecked() and again.controls.smooth_box.isChecked()
    assert again.controls.refine_box.isChecked() and again.controls.threshold_box.value() == 90
    assert "Traceback" not in capfd.readouterr().err  # restoring the toggles at start-up raised nothing


def test_command_line_choices_win_over_the_last_runs(qapp, make_window):
    w = make_window()
    w.controls.people_box.setCurrentIndex(0)
    w.controls.smooth_box.setChecked(False)
    w.close()
    again = make_window()
    again.controls.choose(people=2, smooth_hz=1.0)  # poselift-app --people 2 --smooth 1
    assert again.controls.people_box.currentData() == 2 and again.controls.pipeline_options().people == 2
    assert again.controls.smoothing_cutoff() == pytest.approx(1.0)
    again.controls.choose(people=None, smooth_hz=None)  # not given: the choices stay
    assert again.controls.people_box.currentData() == 2 and again.controls.smooth_box.isChecked()


def test_refine_is_off_and_says_why_without_its_weights(qapp, make_window, tmp_path):
    w = make_window(refiner=tmp_path / "missing.pt")
    assert not w.controls.refine_box.isEnabled() and not w.controls.refine_box.isChecked()
    assert "missing.pt are missing" in w.controls.refine_box.toolTip()


def test_bad_input_gets_one_sentence_and_no_crash(qapp, make_window, tmp_path):
    from PySide6 import QtCore, QtGui
    w = make_window()
    text = tmp_path / "notes.txt"
    text.write_text("not a video")
    mime = QtCore.QMimeData()
    mime.setUrls([QtCore.QUrl.fromLocalFile(str(text))])
    drop = QtGui.QDropEvent(QtCore.QPointF(50, 50), QtCore.Qt.CopyAction, mime, QtCore.Qt.LeftButton,
                            QtCore.Qt.NoModifier)
    w.dropEvent(drop)
    assert "is not a video file" in w.last_error and str(text) in w.last_error
    assert w.error_box.isVisible()

    broken = write_video(tmp_path / "v.mp4", frames=60, size=(160, 120))
    broken.write_bytes(broken.read_bytes()[:600])
    w.playback.open_path(broken)
    assert wait_until(qapp, lambda: "v.mp4" in w.last_error and "notes" not in w.last_error)

    assert not w.playback.open_webcam(93)
    assert "no webcam at index 93" in w.last_error
    assert w.isVisible()


def test_closing_while_recording_keeps_the_recording_for_next_start(qapp, make_window, tmp_path):
    from poselift.engine.outputs.clip import Clip
    w = make_window()
    w.playback.open_path(DEMO)
    assert wait_until(qapp, lambda: w.worker.results >= 5)
    w.recording.start()
    assert wait_until(qapp, lambda: w.recording.recorder.frames >= 10)
    w.close()
    again = make_window()
    assert wait_until(qapp, lambda: again.recording.recovery_box is not None
                      and again.recording.recovery_box.isVisible(), 5)
    assert "unfinished recording" in again.recording.recovery_box.text()
    keep = next(b for b in again.recording.recovery_box.buttons() if b.text() == "Keep for export")
    keep.click()
    out = again.recording.export(tmp_path / "recovered.npz")
    assert out is not None and len(Clip.load(out)) >= 10


def test_everyone_is_drawn_with_an_id_and_a_click_chooses_who_is_followed(qapp, make_window):
    w = make_window()
    w.controls.people_box.setCurrentIndex(1)  # 2 people
    assert wait_until(qapp, lambda: w.worker.pipeline.keypoints.num_poses == 2)
    assert w.playback.open_path(DEMO)
    assert wait_until(qapp, lambda: w._shown is not None and len(w._shown[1].people) == 2, timeout=120)
    result = w._shown[1]
    followed = result.person_id
    labels = [label.toPlainText() for label in w.video.labels_shown()]
    assert sorted(labels) == sorted([f"{followed} ●", f"{next(p.person_id for p in result.people if p is not result)}"])
    assert len(w.skeleton.others.pos) == 32  # the other person's 16 bones in the 3D view, in their colour
    assert w.skeleton.bones.pos.shape == (32, 3) and w.video.overlay_point_count() == 17
    other = next(p for p in result.people if p.person_id != followed)
    x0, y0, x1, y1 = other.mediapipe.box()
    assert w.follow_at((x0 + x1) / 2, (y0 + y1) / 2) == other.person_id  # a click on the other person
    assert wait_until(qapp, lambda: w._shown[1].person_id == other.person_id, timeout=60)
    assert w.follow_at(1.0, 1.0) is None  # beside everyone: back to the most prominent
    assert wait_until(qapp, lambda: w.worker.pipeline.followed == followed, timeout=60)
    w.close()
    again = make_window()
    assert again.controls.people_box.currentData() == 2  # remembered


def test_angle_picker_is_on_screen_at_the_default_size_and_the_plot_names_the_angle(qapp, make_window):
    from PySide6 import QtCore

    from poselift.app.main import DEFAULT_SIZE
    w = make_window()
    w.resize(*DEFAULT_SIZE)
    qapp.processEvents()
    plot = w.angle_plot
    picker = plot.picker
    assert picker.isVisible()
    assert w.rect().contains(QtCore.QRect(picker.mapTo(w, QtCore.QPoint(0, 0)), picker.size()))
    assert plot.title().lower().startswith(picker.currentText()) and plot.title().endswith("(deg)")
    for i in range(picker.count()):
        picker.setCurrentIndex(i)
        assert plot.choice == picker.itemText(i) and plot.title().lower().startswith(picker.itemText(i))


def test_the_stream_switch_sends_the_followed_person_and_a_failure_is_one_sentence(qapp, make_window):
    import socket

    from poselift.engine.outputs.stream_bench import OscReceiver, Page, free_port
    osc = OscReceiver()
    w = make_window()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        w.streaming.targets_edit.setText(f"ws://127.0.0.1:{taken.getsockname()[1]}")
        w.streaming.switch.setChecked(True)
    assert "already in use" in w.last_error and "e05050" in w.statusBar().styleSheet()
    assert not w.streaming.switch.isChecked() and w.worker.streamer is None

    ws = free_port()
    w.streaming.targets_edit.setText(f"vmc://127.0.0.1:{osc.port} ws://127.0.0.1:{ws}")
    w.streaming.switch.setChecked(True)
    assert w.worker.streamer is not None and w.statusBar().currentMessage().startswith("Streaming")
    page = Page(ws)
    assert w.playback.open_path(DEMO)
    w.recording.start()
    assert wait_until(qapp, lambda: len(osc.frames()) >= 10 and len(page.messages) >= 10)
    assert any(len(frame) > 3 for frame in osc.frames())  # the followed person's bones
    page.connection.socket.close()  # a page goes away: the receiver and the recording go on
    streamed, recorded = len(osc.frames()), w.recording.recorder.frames
    assert wait_until(qapp, lambda: len(osc.frames()) >= streamed + 10 and w.recording.recorder.frames >= recorded + 10)
    w.streaming.switch.setChecked(False)
    assert w.worker.streamer is None
    wait_until(qapp, lambda: False, timeout=0.2)  # the last datagrams land
    stopped, results = len(osc.frames()), w.worker.results
    assert wait_until(qapp, lambda: w.worker.results > results + 5)  # the window plays on, nothing is streamed
    assert len(osc.frames()) == stopped
    w.recording.stop()
    osc.close()
