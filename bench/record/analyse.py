#!/usr/bin/env python3
"""Figures for bench/record/run.sh: reads WORK/<run>/ and prints the table."""
import array
import glob
import json
import os
import re
import struct
import subprocess
import sys

work = sys.argv[1]
runs = sys.argv[2:]


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from legibility import ocr, png_size, recall, sh, ssim, window_crop, words  # noqa: E402


def boxes(b, off, end):
    while off + 8 <= end:
        size, typ = struct.unpack(">I4s", b[off:off + 8])
        if size < 8:
            return
        yield typ.decode("latin1"), off, size
        off += size


def fmp4_samples(data):
    """(dts, duration, size) of every sample of a fragmented MP4."""
    out = []
    for typ, off, size in boxes(data, 0, len(data)):
        if typ != "moof":
            continue
        for ttyp, toff, tsize in boxes(data, off + 8, off + size):
            if ttyp != "traf":
                continue
            dts = 0
            ddur = dsize = 0
            for ctyp, c, csize in boxes(data, toff + 8, toff + tsize):
                vf = struct.unpack(">I", data[c + 8:c + 12])[0]
                flags = vf & 0xFFFFFF
                if ctyp == "tfhd":
                    q = c + 16
                    if flags & 1: q += 8
                    if flags & 2: q += 4
                    if flags & 8: ddur = struct.unpack(">I", data[q:q + 4])[0]; q += 4
                    if flags & 0x10: dsize = struct.unpack(">I", data[q:q + 4])[0]; q += 4
                elif ctyp == "tfdt":
                    dts = struct.unpack(">Q", data[c + 12:c + 20])[0] if vf >> 24 == 1 else struct.unpack(">I", data[c + 12:c + 16])[0]
                elif ctyp == "trun":
                    n = struct.unpack(">I", data[c + 12:c + 16])[0]
                    q = c + 16
                    if flags & 1: q += 4
                    if flags & 4: q += 4
                    for _ in range(n):
                        dur, sz = ddur, dsize
                        if flags & 0x100: dur = struct.unpack(">I", data[q:q + 4])[0]; q += 4
                        if flags & 0x200: sz = struct.unpack(">I", data[q:q + 4])[0]; q += 4
                        if flags & 0x400: q += 4
                        if flags & 0x800: q += 4
                        out.append((dts, dur, sz))
                        dts += dur
    return out


def init_size(data):
    n = 0
    for typ, off, size in boxes(data, 0, len(data)):
        if typ not in ("ftyp", "moov"):
            break
        n = off + size
    return n


def agent_recording(d):
    """Concatenates the segments (init of the first + fragments of all)."""
    files = sorted(glob.glob(os.path.join(d, "segments", "seg-*.mp4")) + glob.glob(os.path.join(d, "segments", "seg-*.mp4.part")))
    joined = bytearray()
    total = 0
    for i, f in enumerate(files):
        data = open(f, "rb").read()
        total += len(data)
        joined += data if i == 0 else data[init_size(data):]
    path = os.path.join(d, "recording.mp4")
    open(path, "wb").write(joined)
    return path, total, len(files)


def load_of(d):
    """The load average (1, 5, 15 min) when the recorder was stopped, as text."""
    p = os.path.join(d, "load")
    return " ".join(open(p).read().split()[:3]) if os.path.exists(p) else "?"


def events_figures(d, seconds):
    """The activity events' cost from deskaudit-record's last line and documents."""
    log = open(os.path.join(d, "recorder.log")).read()
    m = re.search(r"events_cpu_s=([0-9.]+) events_bytes=(\d+) events_count=(\d+)(?: events_bytes_v1=(\d+))?", log)
    if not m:
        return None
    cpu_s, size, count = float(m.group(1)), int(m.group(2)), int(m.group(3))
    size_v1 = int(m.group(4)) if m.group(4) else None
    # Version 2 documents hold [dt, code, ...] arrays (docs/api.md).
    codes = {"w": "window", "s": "app.start", "x": "app.exit", "i": "idle", "a": "active", "l": "lock",
             "u": "unlock", "c": "session.connect", "d": "session.disconnect", "p": "recording.pause",
             "r": "recording.resume", "z": "resolution", "t": "trigger"}
    types = {}
    for f in glob.glob(os.path.join(d, "segments", "seg-*.events.json")):
        for e in json.load(open(f))["events"]:
            t = codes.get(e[1], e[1]) if isinstance(e, list) else e["type"]
            types[t] = types.get(t, 0) + 1
    return {"cpu_pct": 100 * cpu_s / seconds, "kb_h": size / 1e3 / seconds * 3600, "count": count, "types": types,
            "kb_h_v1": size_v1 / 1e3 / seconds * 3600 if size_v1 is not None else None}


def analyse_session(kind, name=None):
    d = os.path.join(work, name or kind)
    marks = [json.loads(l) for l in open(os.path.join(d, "marks", "marks.jsonl"))]
    t_start = next(m["t_ms"] for m in marks if m["event"] == "start")
    t_end = next(m["t_ms"] for m in marks if m["event"] == "end")
    session_s = (t_end - t_start) / 1000
    ticks, hz = map(int, open(os.path.join(d, "cpu")).read().split())
    cpu_s = ticks / hz
    hwm_mb = int(open(os.path.join(d, "hwm_kb")).read()) / 1024
    start_ms = int(open(os.path.join(d, "start_ms")).read())
    extra = ""
    if kind in ("agent", "office", "windows"):
        rec, size, nseg = agent_recording(d)
        frames = len(fmp4_samples(open(rec, "rb").read()))
        extra = f"{frames} frames, {nseg} segment(s)"
    else:
        rec = os.path.join(d, "out.mp4")
        size = os.path.getsize(rec)
        n = sh("ffprobe", "-v", "error", "-count_packets", "-select_streams", "v:0", "-show_entries", "stream=nb_read_packets", "-of", "csv=p=0", rec).stdout.strip()
        extra = f"{n} frames"
    pts = sorted(float(x) for x in sh("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time",
                                      "-of", "csv=p=0", rec).stdout.split() if x.strip() not in ("", "N/A"))
    res = {"load": load_of(d), "cpu_s": cpu_s, "cpu_pct": 100 * cpu_s / session_s, "rss_mb": hwm_mb, "bytes": size,
           "mb_h": size / 1e6 / session_s * 3600, "session_s": session_s, "extra": extra, "cp": {}}
    if kind in ("agent", "office"):
        res["events"] = events_figures(d, session_s)
    for m in marks:
        if m["event"] != "checkpoint":
            continue
        name = m["name"]
        shot = os.path.join(d, "marks", name + ".png")
        text = words(open(os.path.join(d, "marks", m["text_file"])).read())
        t = (m["t_ms"] + 2000 - start_ms) / 1000
        frame = os.path.join(d, f"{name}-recorded.png")
        # The frame on screen at t is the last one that starts at or before t
        # (`ffmpeg -ss t` alone would give the first one at or after t: with
        # variable frame rate that can be seconds later).
        shown = max((p for p in pts if p <= t + 0.0005), default=t)
        sh("ffmpeg", "-nostdin", "-v", "error", "-ss", f"{shown - 0.0004:.4f}", "-i", rec, "-frames:v", "1", "-update", "1",
           "-y", frame)
        if not os.path.exists(frame):
            res["cp"][name] = (float("nan"), float("nan"), float("nan"))
            continue
        # Read in the checkpoint's window when run.sh knew where it was
        # (watch-checkpoints.sh): over the whole screen tesseract joins its
        # lines with a window beside it, and how swings with pixel noise.
        size = png_size(shot) if os.path.exists(shot) else None
        crop = window_crop(os.path.join(d, "marks", name + ".geometry"), *size) if size else None
        res["cp"][name] = (recall(text, ocr(frame, crop)), recall(text, ocr(shot, crop)) if os.path.exists(shot) else float("nan"),
                           ssim(frame, shot) if os.path.exists(shot) else float("nan"))
    return res


def analyse_idle():
    d = os.path.join(work, "idle")
    c0, t1, t0 = map(int, open(os.path.join(d, "idle_window")).read().split())
    ticks, hz = map(int, open(os.path.join(d, "cpu")).read().split())
    window_s = (t1 - t0) / 1000
    rec, size, _ = agent_recording(d)
    data = open(rec, "rb").read()
    samples = fmp4_samples(data)
    # The first picture of a recording is paid once; the steady rate is the rest.
    steady = size - init_size(data) - (samples[0][2] if samples else 0)
    duration_s = (samples[-1][0] + samples[-1][1] - samples[0][0]) / 1000 if samples else window_s
    return {"cpu_pct": 100 * (ticks - c0) / hz / window_s, "mb_h": steady / 1e6 / duration_s * 3600, "bytes": size,
            "frames": len(samples), "rss_mb": int(open(os.path.join(d, "hwm_kb")).read()) / 1024, "window_s": window_s,
            "load": load_of(d)}


def audio_envelope(rec):
    """Mean absolute level (mono s16) of each millisecond of a recording's first audio track, and the samples."""
    raw = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", rec, "-map", "0:a:0", "-ac", "1", "-ar", "48000",
                          "-f", "s16le", "-"], capture_output=True).stdout
    pcm = array.array("h")
    pcm.frombytes(raw[:len(raw) // 2 * 2])
    if sys.byteorder != "little":
        pcm.byteswap()
    env = [sum(map(abs, pcm[i:i + 48])) / 48 for i in range(0, len(pcm) - 47, 48)]
    return env, pcm


def tone_onsets(rec, expected):
    """Media time (s) of each 1 kHz tone's onset near each expected time, and its measured frequency."""
    env, pcm = audio_envelope(rec)
    out = []
    for te in expected:
        lo, hi = max(0, int((te - 2) * 1000)), min(len(env), int((te + 2) * 1000))
        if hi - lo < 1200:
            continue
        peak = max(env[lo:hi])
        if peak < 1000:  # no tone there (the track has silence or nothing)
            continue
        onset = next(i for i in range(lo, hi) if env[i] >= peak / 2)
        # Frequency by zero crossings over the tone's middle 0.8 s.
        seg = pcm[(onset + 100) * 48:(onset + 900) * 48]
        crossings = sum(1 for x, y in zip(seg, seg[1:]) if (x < 0) != (y < 0))
        out.append((onset / 1000, crossings / 2 / 0.8))
    return out


def bar_frames(rec):
    """(media time s, bar length px) of every video frame: the avsync strip at x 20..1060, y 1000..1064."""
    r = subprocess.run(["ffmpeg", "-nostdin", "-i", rec, "-map", "0:v:0", "-vf",
                        "crop=1040:64:20:1000,showinfo,scale=1040:1:flags=area", "-fps_mode", "passthrough",
                        "-f", "rawvideo", "-pix_fmt", "gray", "-"], capture_output=True)
    times = [float(t) for t in re.findall(rb"pts_time:\s*([0-9.]+)", r.stderr)]
    rows = [r.stdout[i * 1040:(i + 1) * 1040] for i in range(len(r.stdout) // 1040)]
    return [(t, sum(1 for v in row if v > 128)) for t, row in zip(times, rows)]


def av_sync(rec, expected, stalls):
    """Per tone: (tone onset s, frequency Hz, onset seen on video s, offset ms = audio - video, frames used,
    the marker's longest stall ms)."""
    onsets = tone_onsets(rec, expected)
    frames = [(t, px) for t, px in bar_frames(rec) if 5 <= px <= 990]
    out = []
    for onset, freq in onsets:
        # Each frame showing the bar says when the tone began: its time minus the bar's length (1 px = 1 ms).
        est = sorted(t - px / 1000 for t, px in frames if onset - 5 <= t - px / 1000 <= onset + 5)
        stall = stalls[min(range(len(expected)), key=lambda i: abs(expected[i] - onset))]
        if not est:
            out.append((onset, freq, float("nan"), float("nan"), 0, stall))
            continue
        v = est[len(est) // 2]
        out.append((onset, freq, v, 1000 * (onset - v), len(est), stall))
    return out


def stream_packets(rec, stream):
    out = sh("ffprobe", "-v", "error", "-select_streams", stream, "-show_entries", "packet=pts_time,size",
             "-of", "csv=p=0", rec).stdout.split()
    return [(float(t), int(n)) for t, n in (line.split(",")[:2] for line in out if "," in line and "N/A" not in line)]


def agent_audio_trafs(data):
    """(time s, bytes) of the audio traf (the second) of each moof: the sound's share of fragment headers."""
    trafs = []
    for typ, off, size_ in boxes(data, 0, len(data)):
        if typ != "moof":
            continue
        found = [(toff, tsize) for ttyp, toff, tsize in boxes(data, off + 8, off + size_) if ttyp == "traf"]
        for toff, tsize in found[1:]:
            for ctyp, c, _ in boxes(data, toff + 8, toff + tsize):
                if ctyp == "tfdt":
                    v = data[c + 8]
                    tfdt = struct.unpack(">Q", data[c + 12:c + 20])[0] if v == 1 else struct.unpack(">I", data[c + 12:c + 16])[0]
                    trafs.append((tfdt / 48000, tsize))
    return trafs


def monitor_frames(d, tone_wall_ms):
    """What the sink played (parec of its monitor), per 20 ms: (wall ms of the frame's start, digital zero?).
    Its clock is set by the first tone: the first sound of the run."""
    pcm = array.array("h")
    raw = open(os.path.join(d, "monitor.raw"), "rb").read()
    pcm.frombytes(raw[:len(raw) // 2 * 2])
    if sys.byteorder != "little":
        pcm.byteswap()
    onset = next((i for i, x in enumerate(pcm) if abs(x) > 8000), None)
    if onset is None:
        return []
    wall0 = tone_wall_ms - onset / 96  # 96 values (48 stereo frames) a millisecond
    n = 1920  # 20 ms of stereo
    return [(wall0 + i / 96, max(pcm[i:i + n]) == 0 and min(pcm[i:i + n]) == 0) for i in range(0, len(pcm) - n + 1, n)]


def analyse_audio():
    """The audio run: four recorders of one session with sound (see run.sh)."""
    d = os.path.join(work, "audio")
    sound_marks = [json.loads(l) for l in open(os.path.join(d, "marks", "sound.jsonl"))]
    tone_marks = [m["t_ms"] for m in sound_marks if m["event"] == "tone"]
    monitor = monitor_frames(d, tone_marks[0]) if tone_marks else []
    silence_frames = [z for w, z in monitor
                      if any(a <= w < b for (a, k), (b, _) in zip([(m["t_ms"], m["event"]) for m in sound_marks],
                                                                  [(m["t_ms"], m["event"]) for m in sound_marks[1:]]) if k == "silence")]
    if not any(json.loads(l)["event"] == "end" for l in open(os.path.join(d, "marks", "marks.jsonl"))):
        print("audio run: the session did not reach its end (see audio/session.log): figures of a shorter session")
    res = {"monitor_silence_zero": (sum(silence_frames), len(silence_frames)),
           "load": open(os.path.join(d, "loadavg")).read().split()[:3], "sound_kind": open(os.path.join(d, "sound")).read().strip()}
    for name in ("agent-av", "agent-v", "ffmpeg-av", "ffmpeg-a"):
        rd = os.path.join(d, name)
        ticks, hz, t0, t1 = map(int, open(os.path.join(rd, "cpu")).read().split())
        wall_s = (t1 - t0) / 1000
        r = {"cpu_pct": 100 * ticks / hz / wall_s, "cpu_s": ticks / hz, "rss_mb": int(open(os.path.join(rd, "hwm_kb")).read()) / 1024}
        start_ms = int(open(os.path.join(rd, "start_ms")).read().strip())
        tone_marks = [m["t_ms"] for m in sound_marks if m["event"] == "tone"]
        if name.startswith("agent"):
            rec, size, nseg = agent_recording(rd)
            data = open(rec, "rb").read()
            trafs = agent_audio_trafs(data)
        else:
            rec = os.path.join(rd, "out.mp4" if name == "ffmpeg-av" else "out.mka")
            size, trafs = os.path.getsize(rec), []
        dur = float(sh("ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", rec).stdout.strip() or "nan")
        r.update({"bytes": size, "duration_s": dur, "mb_h": size / 1e6 / dur * 3600})
        if name != "agent-v":
            audio = stream_packets(rec, "a:0") + trafs
            r["audio_mb_h"] = sum(n for _, n in audio) / 1e6 / dur * 3600
            # The media clock against the wall, cycle by cycle: each tone's onset on this recording against the
            # wall time avsync heard it (start_ms is only a first guess: ffmpeg's is its launch, not its time 0).
            anchors = []
            for onset, _ in tone_onsets(rec, [(t - start_ms) / 1000 for t in tone_marks]):
                mark = min(tone_marks, key=lambda t: abs((t - start_ms) / 1000 - onset))
                anchors.append((mark, onset))
            if not anchors:
                anchors = [(start_ms, 0.0)]
            def media(w):
                mark, onset = min(anchors, key=lambda x: abs(x[0] - w))
                return onset + (w - mark) / 1000
            # Steady digital silence: the Opus packets of each silence part from 500 ms after its start (the
            # encoder codes the end of a sound for ~250 ms more) to 100 ms before its end; the sink played
            # zeros there (see monitor_silence_zero). By what the silence follows: libopus keeps coding
            # silence in the mode of the sound before it.
            packets = stream_packets(rec, "a:0")
            by_after = {}
            for m, nxt in zip(sound_marks, sound_marks[1:]):
                if m["event"] != "silence":
                    continue
                lo, hi = media(m["t_ms"]) + 0.5, media(nxt["t_ms"]) - 0.1
                got = [n for t, n in packets if lo <= t < hi]
                for key in (m.get("after", "start"), "all"):
                    c, b = by_after.get(key, (0, 0))
                    by_after[key] = (c + len(got), b + sum(got))
            r["digital_silence"] = {k: (c * 0.02, b / 1e6 / (c * 0.02) * 3600) for k, (c, b) in by_after.items() if c}
            # Bytes per hour of the sound (with the agent's trafs) by what was heard.
            per = {}
            for m, nxt in zip(sound_marks, sound_marks[1:]):
                lo, hi = max(media(m["t_ms"]), 0.0), min(media(nxt["t_ms"]), dur)
                if hi - lo < 0.5:
                    continue
                secs, n = per.get(m["event"], (0.0, 0))
                per[m["event"]] = (secs + hi - lo, n + sum(x for t, x in audio if lo <= t < hi))
            r["parts"] = {k: (secs, n / 1e6 / secs * 3600) for k, (secs, n) in per.items()}
            start_ms = anchors[0][0] - anchors[0][1] * 1000
        if name.endswith("-av"):
            expected = [(m["t_ms"] - start_ms) / 1000 for m in sound_marks if m["event"] == "tone"]
            # The marker's stall during each tone: on the silence mark that follows it.
            stalls = [next((n.get("tone_stall_ms", -1) for n in sound_marks[i + 1:] if n["event"] == "silence"), -1)
                      for i, m in enumerate(sound_marks) if m["event"] == "tone"]
            r["sync"] = av_sync(rec, expected, stalls)
        res[name] = r
    res["audio_cpu_pct"] = 100 * int(open(os.path.join(d, "agent-av", "audio_ticks")).read()) / hz / wall_s
    return res


results = {k: analyse_session(k) for k in runs if k in ("agent", "ultrafast", "veryfast", "office", "windows")}
if "beside" in runs:
    results["beside-agent"] = analyse_session("agent", "beside-agent")
    results["beside-windows"] = analyse_session("windows", "beside-windows")
audio_run = analyse_audio() if "audio" in runs else None
idle = analyse_idle() if "idle" in runs else None

cols = [k for k in ("agent", "windows", "beside-agent", "beside-windows", "ultrafast", "veryfast", "office")
        if k in results]
names = {"agent": "deskaudit 5fps", "ultrafast": "ffmpeg ultrafast", "veryfast": "ffmpeg veryfast",
         "office": "deskaudit office", "windows": "deskaudit.exe Wine", "beside-agent": "beside: agent",
         "beside-windows": "beside: .exe Wine"}
w = 26
print()
print("metric".ljust(34) + "".join(names[c].rjust(w) for c in cols))
def row(label, fmt):
    print(label.ljust(34) + "".join(fmt(results[c]).rjust(w) for c in cols))
row("session length (s)", lambda r: f"{r['session_s']:.1f}")
row("frames", lambda r: r["extra"])
row("CPU seconds", lambda r: f"{r['cpu_s']:.2f}")
row("CPU % of one core", lambda r: f"{r['cpu_pct']:.2f}")
row("peak RSS (MB)", lambda r: f"{r['rss_mb']:.1f}")
row("bytes", lambda r: f"{r['bytes']}")
row("MB per hour", lambda r: f"{r['mb_h']:.2f}")
cps = sorted({n for r in results.values() for n in r["cp"]})
for n in cps:
    row(f"{n} OCR recall (recorded)", lambda r, n=n: f"{r['cp'].get(n, (float('nan'),) * 3)[0]:.3f}")
    row(f"{n} OCR recall (screenshot)", lambda r, n=n: f"{r['cp'].get(n, (float('nan'),) * 3)[1]:.3f}")
    row(f"{n} SSIM vs screenshot", lambda r, n=n: f"{r['cp'].get(n, (float('nan'),) * 3)[2]:.4f}")
print()
if "agent" in results and "ultrafast" in results:
    a, u = results["agent"], results["ultrafast"]
    print(f"standard: CPU seconds agent/ultrafast = {a['cpu_s'] / u['cpu_s']:.3f} (target <= 0.2)")
if "agent" in results and "veryfast" in results:
    a, v = results["agent"], results["veryfast"]
    print(f"standard: bytes agent/veryfast = {a['bytes'] / v['bytes']:.3f}, per hour {a['mb_h'] / v['mb_h']:.3f} (target <= 0.333)")
if "windows" in results:
    wr = results["windows"]
    print(f"windows (deskaudit-record.exe under Wine, GDI): CPU {wr['cpu_pct']:.2f}% of one core (printed, not judged: "
          f"Wine's cost, without the wineserver's), load average {wr['load']}")
    if "agent" in results:
        a = results["agent"]
        print(f"windows/agent: bytes per hour {wr['mb_h'] / a['mb_h']:.3f} (target 0.9..1.1); agent's load average "
              f"{a['load']}")
        for n in sorted(set(wr["cp"]) & set(a["cp"])):
            w_ocr, a_ocr = wr["cp"][n][0], a["cp"][n][0]
            ratio = f"{w_ocr / a_ocr:.3f}" if a_ocr > 0 else "n/a"
            print(f"windows/agent: {n} OCR recall {w_ocr:.3f} / {a_ocr:.3f} = {ratio} (target 0.9..1.1; screenshots "
                  f"{wr['cp'][n][1]:.3f} / {a['cp'][n][1]:.3f})")
if "beside-windows" in results:
    wr, a = results["beside-windows"], results["beside-agent"]
    print(f"beside (one session, both at once): windows/agent bytes per hour {wr['mb_h'] / a['mb_h']:.3f} "
          f"(target 0.9..1.1); frames {wr['extra']} / {a['extra']}; CPU {wr['cpu_pct']:.2f}% / {a['cpu_pct']:.2f}% "
          f"of one core; load average {a['load']}")
    for n in sorted(set(wr["cp"]) & set(a["cp"])):
        w_ocr, a_ocr = wr["cp"][n][0], a["cp"][n][0]
        ratio = f"{w_ocr / a_ocr:.3f}" if a_ocr > 0 else "n/a"
        print(f"beside: windows/agent {n} OCR recall {w_ocr:.3f} / {a_ocr:.3f} = {ratio} (target 0.9..1.1)")
if "office" in results:
    o = results["office"]
    print(f"office: {o['mb_h']:.3f} MB/hour (target < 1.25), CPU {o['cpu_pct']:.3f}% of one core, peak RSS {o['rss_mb']:.1f} MB, "
          f"load average {o['load']}")
for k in ("agent", "office"):
    ev = results.get(k, {}).get("events")
    if ev:
        kinds = ", ".join(f"{t} {n}" for t, n in sorted(ev["types"].items()))
        print(f"{k}: activity events {ev['count']} ({kinds}): CPU {ev['cpu_pct']:.4f}% of one core (target < 0.1), "
              f"{ev['kb_h']:.2f} KB/hour of documents as uploaded (target < 50)"
              + (f"; the same events as version 1 documents {ev['kb_h_v1']:.2f} KB/hour" if ev.get("kb_h_v1") is not None else "")
              + f", load average {results[k]['load']}")
if idle:
    print(f"idle desktop (xclock ticking), agent, {idle['window_s']:.0f} s: CPU {idle['cpu_pct']:.3f}% of one core, "
          f"{idle['mb_h']:.3f} MB/hour (after the first picture), {idle['frames']} frames, {idle['bytes']} bytes, "
          f"peak RSS {idle['rss_mb']:.1f} MB (targets < 0.3% and < 0.5 MB/hour), load average {idle['load']}")
if audio_run:
    A = audio_run
    kind = "speech and music" if A["sound_kind"] == "speech" else "music"
    print()
    print(f"audio run: the session with sound ({kind} between 1 kHz tones), four recorders at once, "
          f"load average {' '.join(A['load'])} at the end")
    cols4 = ("agent-av", "agent-v", "ffmpeg-av", "ffmpeg-a")
    heads = {"agent-av": "deskaudit a+v", "agent-v": "deskaudit video", "ffmpeg-av": "ffmpeg x11grab+pulse",
             "ffmpeg-a": "ffmpeg pulse only"}
    def arow(label, fmt):
        print(label.ljust(34) + "".join((fmt(A[c]) if fmt(A[c]) is not None else "-").rjust(w) for c in cols4))
    print("metric".ljust(34) + "".join(heads[c].rjust(w) for c in cols4))
    arow("recording length (s)", lambda r: f"{r['duration_s']:.1f}")
    arow("bytes", lambda r: f"{r['bytes']}")
    arow("MB per hour (total)", lambda r: f"{r['mb_h']:.3f}")
    arow("MB per hour (sound alone)", lambda r: f"{r['audio_mb_h']:.3f}" if "audio_mb_h" in r else None)
    for part, label in (("silence", "silence"), ("speech", "speech"), ("music", "music"), ("tone", "1 kHz tone")):
        arow(f"  sound MB/h in {label}", lambda r, p=part: f"{r['parts'][p][1]:.3f} ({r['parts'][p][0]:.0f} s)"
             if p in r.get("parts", {}) else None)
    for after, label in (("all", "  sound MB/h in steady silence"), ("tone", "    after the tone"),
                         ("speech", "    after speech"), ("music", "    after music")):
        arow(label, lambda r, a=after: f"{r['digital_silence'][a][1]:.3f} ({r['digital_silence'][a][0]:.0f} s)"
             if a in r.get("digital_silence", {}) else None)
    arow("CPU seconds", lambda r: f"{r['cpu_s']:.2f}")
    arow("CPU % of one core", lambda r: f"{r['cpu_pct']:.3f}")
    arow("peak RSS (MB)", lambda r: f"{r['rss_mb']:.1f}")
    def sync_stat(r, f, clean=False):
        offs = [o for _, _, _, o, n, st in r.get("sync", []) if n and (not clean or 0 <= st <= 30)]
        return f(offs) if offs else None
    arow("A/V offset ms (audio - video) mean", lambda r: sync_stat(r, lambda o: f"{sum(o) / len(o):+.1f}"))
    arow("  max |offset| ms", lambda r: sync_stat(r, lambda o: f"{max(map(abs, o)):.1f}"))
    arow("  max |offset| ms, marker on time", lambda r: sync_stat(r, lambda o: f"{max(map(abs, o)):.1f} ({len(o)})", True))
    arow("  first .. last tone ms", lambda r: sync_stat(r, lambda o: f"{o[0]:+.0f} .. {o[-1]:+.0f}"))
    arow("  tones measured / heard", lambda r: f"{sum(1 for s in r['sync'] if s[4])}/{len(r['sync'])}" if "sync" in r else None)
    arow("  tone frequency (Hz, median)", lambda r: f"{sorted(s[1] for s in r['sync'])[len(r['sync']) // 2]:.0f}"
         if r.get("sync") else None)
    for c in ("agent-av", "ffmpeg-av"):
        print(f"{c} per tone (audio onset s: offset ms, frames, marker's longest stall ms): " +
              ", ".join(f"{a:.1f}: {o:+.0f} ({n}, {st})" for a, _, _, o, n, st in A[c].get("sync", [])))
    z, nz = A["monitor_silence_zero"]
    print(f"the sink in the silence parts: {z} of {nz} 20 ms frames digital zero (parec of its monitor)")
    av, v, fa, fo = A["agent-av"], A["agent-v"], A["ffmpeg-av"], A["ffmpeg-a"]
    print(f"sound added by the agent: {av['mb_h'] - v['mb_h']:+.3f} MB/hour, {av['cpu_pct'] - v['cpu_pct']:+.3f}% of a core "
          f"(da-audio thread {A['audio_cpu_pct']:.3f}%); ffmpeg's sound alone: {fo['cpu_pct']:.3f}% of a core")
    print(f"agent a+v / ffmpeg x11grab+pulse: bytes per hour {av['mb_h'] / fa['mb_h']:.3f}, CPU {av['cpu_pct'] / fa['cpu_pct']:.3f}; "
          f"sound alone {av['audio_mb_h'] / fa['audio_mb_h']:.3f}")
    sil = av.get("digital_silence", {}).get("all")
    offs = [abs(o) for _, _, _, o, n, st in av.get("sync", []) if n and 0 <= st <= 30]
    worst = max((v[1] for k, v in av.get("digital_silence", {}).items() if k != "all"), default=float("nan"))
    print(f"targets: silence < 1 MB/hour: {sil[1]:.3f} overall, {worst:.3f} after the worst kind of sound "
          f"({'met' if worst < 1 else 'missed'}); "
          f"A/V sync within 80 ms start to end: max {max(offs) if offs else float('nan'):.0f} ms "
          f"over the {len(offs)} tones whose marker was drawn on time (stall <= 30 ms) "
          f"({'met' if offs and max(offs) <= 80 else 'missed'})" if sil else "targets: no silence measured")
print("(MB = 10^6 bytes; CPU = utime+stime of the recorder process over the session)")
