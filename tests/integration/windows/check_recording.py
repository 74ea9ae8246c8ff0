#!/usr/bin/env python3
"""Checks of agent_wine_test.sh on a recording the server holds (its detail
JSON from GET /api/v1/recordings/ID):

  check_recording.py session DETAIL_JSON RECORDING_MP4 MARKS_DIR
      complete; the media as long as the session within 6 s; the workload
      inside the recording; for both checkpoints the words tesseract reads in
      the checkpoint's window (MARKS_DIR/NAME.geometry, written by
      bench/record/watch-checkpoints.sh) in the recorded frame 2 s into the
      checkpoint are those it reads there in the screenshot taken then
      (within 0.05 of recall: tesseract's noise; recall of the checkpoint's
      text, as bench/record/analyse.py measures it).
  check_recording.py killed DETAIL_JSON KILLED_AT_MS
      interrupted; the media reaches to within 3.5 s of the kill (at most
      the fragment in progress, 2 s, plus encoder latency: the Linux agent's
      bound in agent_integration_test's KillNineLosesAtMostTheFragmentInProgress).
"""
import datetime
import json
import os
import sys


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def epoch_ms(rfc3339):
    return int(datetime.datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp() * 1000)


# The benchmark's measure of legibility (bench/record/legibility.py).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "bench", "record"))
from legibility import ocr, png_size, recall, sh, window_crop, words  # noqa: E402


def media_end_ms(detail):
    return max((s["start_offset_ms"] + s["duration_ms"] for s in detail["segments"]), default=0)


def check_session(detail, mp4, marks_dir):
    if detail["status"] != "complete":
        fail(f"status {detail['status']}, not complete")
    start, end = epoch_ms(detail["start_time"]), epoch_ms(detail["end_time"])
    media = sum(s["duration_ms"] for s in detail["segments"])
    print(f"session {end - start} ms, media {media} ms in {len(detail['segments'])} segment(s)")
    if abs(media - (end - start)) > 6000:
        fail(f"the media ({media} ms) is not the session's length ({end - start} ms) within 6 s")
    marks = [json.loads(line) for line in open(os.path.join(marks_dir, "marks.jsonl"))]
    w0 = next(m["t_ms"] for m in marks if m["event"] == "start")
    w1 = next(m["t_ms"] for m in marks if m["event"] == "end")
    if not (start <= w0 and w1 <= end):
        fail(f"the workload ({w0}..{w1}) is not inside the recording ({start}..{end})")
    pts = sorted(float(x) for x in sh("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                                      "packet=pts_time", "-of", "csv=p=0", mp4).stdout.split()
                 if x.strip() not in ("", "N/A"))
    checkpoints = [m for m in marks if m["event"] == "checkpoint"]
    if len(checkpoints) != 2:
        fail(f"{len(checkpoints)} checkpoints in the marks, expected 2")
    for m in checkpoints:
        name = m["name"]
        text = words(open(os.path.join(marks_dir, m["text_file"])).read())
        t = (m["t_ms"] + 2000 - start) / 1000
        # The frame on screen at t: the last one starting at or before it.
        shown = max((p for p in pts if p <= t + 0.0005), default=t)
        frame = os.path.join(marks_dir, f"{name}-recorded.png")
        sh("ffmpeg", "-nostdin", "-v", "error", "-ss", f"{shown - 0.0004:.4f}", "-i", mp4, "-frames:v", "1",
           "-update", "1", "-y", frame)
        if not os.path.exists(frame):
            fail(f"no recorded frame at {t:.2f} s for checkpoint {name}")
        shot = os.path.join(marks_dir, name + ".png")
        # Read in the checkpoint's window only: over the whole screen,
        # tesseract joins its lines with those of the window beside it, and
        # how swings with pixel noise (0.69..0.97 for one session's frames).
        crop = window_crop(os.path.join(marks_dir, name + ".geometry"), *png_size(shot))
        if crop is None:
            fail(f"checkpoint {name}: where its window was is not known ({name}.geometry)")
        got, want = recall(text, ocr(frame, crop)), recall(text, ocr(shot, crop))
        print(f"checkpoint {name}: OCR recall recorded {got:.3f}, screenshot {want:.3f}")
        # Equal, up to tesseract's own noise between two renderings of one
        # screen (a word in ~50 either way, seen in both directions here).
        if got < want - 0.05:
            fail(f"checkpoint {name}: the recorded frame's OCR ({got:.3f}) is below the screenshot's ({want:.3f})")


def check_killed(detail, killed_at):
    if detail["status"] != "interrupted":
        fail(f"status {detail['status']}, not interrupted")
    lost = killed_at - epoch_ms(detail["start_time"]) - media_end_ms(detail)
    print(f"kill -9 lost {lost} ms of media")
    if lost > 3500:
        fail(f"lost {lost} ms: more than the fragment in progress")


if __name__ == "__main__":
    kind, detail = sys.argv[1], json.loads(sys.argv[2])
    if kind == "session":
        check_session(detail, sys.argv[3], sys.argv[4])
    elif kind == "killed":
        check_killed(detail, int(sys.argv[3]))
    else:
        fail("usage: check_recording.py session|killed ...")
    print("OK")
