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
  check_recording.py audio DETAIL_JSON RECORDING_MP4 TONE_START_MS TONE_END_MS
      the recording has sound (has_audio; an Opus track as long as the video
      within 1 s), silent but for one loud stretch: the tone played from
      TONE_START_MS to TONE_END_MS (epoch), at its place within 0.5 s at both
      ends (media time 0 is the recording's start_time).
  check_recording.py killed DETAIL_JSON KILLED_AT_MS
      interrupted; the media reaches to within 3.5 s of the kill (at most
      the fragment in progress, 2 s, plus encoder latency: the Linux agent's
      bound in agent_integration_test's KillNineLosesAtMostTheFragmentInProgress).
"""
import datetime
import json
import os
import re
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


def check_audio(detail, mp4, tone_start, tone_end):
    if not detail.get("has_audio"):
        fail("the recording has no sound (has_audio false)")
    streams = json.loads(sh("ffprobe", "-v", "error", "-show_entries", "stream=codec_type,codec_name,duration",
                            "-of", "json", mp4).stdout)["streams"]
    audio = [s for s in streams if s["codec_type"] == "audio"]
    video = [s for s in streams if s["codec_type"] == "video"]
    if len(audio) != 1 or audio[0]["codec_name"] != "opus":
        fail(f"expected one Opus track, got {audio}")
    a_len, v_len = float(audio[0]["duration"]), float(video[0]["duration"])
    print(f"audio {a_len:.2f} s, video {v_len:.2f} s")
    if abs(a_len - v_len) > 1.0:
        fail(f"the sound ({a_len:.2f} s) is not as long as the video ({v_len:.2f} s) within 1 s")
    out = sh("ffmpeg", "-nostdin", "-v", "info", "-i", mp4, "-map", "0:a", "-af", "silencedetect=n=-30dB:d=0.2",
             "-f", "null", "-").stderr
    starts = [float(x) for x in re.findall(r"silence_start: ([0-9.]+)", out)]
    ends = [float(x) for x in re.findall(r"silence_end: ([0-9.]+)", out)]
    # Loud stretches: from each silence's end to the next silence's start.
    loud = [(e, next((s for s in starts if s > e), a_len)) for e in ends if e < a_len - 0.05]
    if starts and starts[0] > 0.05:
        loud.insert(0, (0.0, starts[0]))
    want = ((tone_start - epoch_ms(detail["start_time"])) / 1000, (tone_end - epoch_ms(detail["start_time"])) / 1000)
    print(f"loud stretches {[(round(a, 2), round(b, 2)) for a, b in loud]}, the tone at ({want[0]:.2f}, {want[1]:.2f})")
    if len(loud) != 1:
        fail(f"{len(loud)} loud stretches, expected the tone's one")
    if abs(loud[0][0] - want[0]) > 0.5 or abs(loud[0][1] - want[1]) > 0.5:
        fail(f"the tone is at {loud[0][0]:.2f}-{loud[0][1]:.2f} s, not at {want[0]:.2f}-{want[1]:.2f} s within 0.5 s")


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
    elif kind == "audio":
        check_audio(detail, sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    elif kind == "killed":
        check_killed(detail, int(sys.argv[3]))
    else:
        fail("usage: check_recording.py session|audio|killed ...")
    print("OK")
