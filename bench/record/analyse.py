#!/usr/bin/env python3
"""Figures for bench/record/run.sh: reads WORK/<run>/ and prints the table."""
import collections
import glob
import json
import os
import re
import struct
import subprocess
import sys

work = sys.argv[1]
runs = sys.argv[2:]


def sh(*cmd):
    return subprocess.run(cmd, capture_output=True, text=True)


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


def words(text):
    return collections.Counter(re.findall(r"[a-z]+", text.lower()))


def recall(expected, got):
    total = sum(expected.values())
    return sum(min(c, got[w]) for w, c in expected.items()) / total if total else 0.0


def ocr(png):
    return words(sh("tesseract", png, "stdout").stdout)


def ssim(a, b):
    r = sh("ffmpeg", "-nostdin", "-i", a, "-i", b, "-lavfi", "ssim", "-f", "null", "-")
    m = re.search(r"All:([0-9.]+)", r.stderr)
    return float(m.group(1)) if m else float("nan")


def load_of(d):
    """The load average (1, 5, 15 min) when the recorder was stopped, as text."""
    p = os.path.join(d, "load")
    return " ".join(open(p).read().split()[:3]) if os.path.exists(p) else "?"


def events_figures(d, seconds):
    """The activity events' cost from deskaudit-record's last line and documents."""
    log = open(os.path.join(d, "recorder.log")).read()
    m = re.search(r"events_cpu_s=([0-9.]+) events_bytes=(\d+) events_count=(\d+)", log)
    if not m:
        return None
    cpu_s, size, count = float(m.group(1)), int(m.group(2)), int(m.group(3))
    types = {}
    for f in glob.glob(os.path.join(d, "segments", "seg-*.events.json")):
        for e in json.load(open(f))["events"]:
            types[e["type"]] = types.get(e["type"], 0) + 1
    return {"cpu_pct": 100 * cpu_s / seconds, "kb_h": size / 1e3 / seconds * 3600, "count": count, "types": types}


def analyse_session(kind):
    d = os.path.join(work, kind)
    marks = [json.loads(l) for l in open(os.path.join(d, "marks", "marks.jsonl"))]
    t_start = next(m["t_ms"] for m in marks if m["event"] == "start")
    t_end = next(m["t_ms"] for m in marks if m["event"] == "end")
    session_s = (t_end - t_start) / 1000
    ticks, hz = map(int, open(os.path.join(d, "cpu")).read().split())
    cpu_s = ticks / hz
    hwm_mb = int(open(os.path.join(d, "hwm_kb")).read()) / 1024
    start_ms = int(open(os.path.join(d, "start_ms")).read())
    extra = ""
    if kind in ("agent", "office"):
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
        res["cp"][name] = (recall(text, ocr(frame)), recall(text, ocr(shot)) if os.path.exists(shot) else float("nan"),
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


def analyse_audio():
    """Bytes/hour of each track and CPU per phase of the audio run."""
    d = os.path.join(work, "audio")
    t0, t1, t2, a0, a1, a2, p0, p1, p2, hz = map(int, open(os.path.join(d, "phases")).read().split())
    start_ms = int(open(os.path.join(d, "start_ms")).read().strip())
    rec, size, _ = agent_recording(d)
    data = open(rec, "rb").read()

    def packets(stream):
        out = sh("ffprobe", "-v", "error", "-select_streams", stream, "-show_entries", "packet=pts_time,size",
                 "-of", "csv=p=0", rec).stdout.split()
        return [(float(t), int(n)) for t, n in (line.split(",")[:2] for line in out if "," in line)]

    audio, video = packets("a:0"), packets("v:0")
    # The audio traf of each moof (its second traf) costs bytes too: counted
    # in the phase its first sample belongs to (tfdt, 48 kHz ticks).
    trafs = []  # (time s, bytes)
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

    def phase(a_ms, b_ms, a_ticks, b_ticks, p_ticks0, p_ticks1):
        lo, hi = (a_ms - start_ms) / 1000, (b_ms - start_ms) / 1000
        secs = hi - lo
        ab = sum(n for t, n in audio if lo <= t < hi) + sum(n for t, n in trafs if lo <= t < hi)
        vb = sum(n for t, n in video if lo <= t < hi)
        return {"s": secs, "audio_mb_h": ab / 1e6 / secs * 3600, "video_mb_h": vb / 1e6 / secs * 3600,
                "audio_cpu_pct": 100 * (b_ticks - a_ticks) / hz / secs,
                "process_cpu_pct": 100 * (p_ticks1 - p_ticks0) / hz / secs}

    sound = open(os.path.join(d, "sound")).read().strip()
    return {"silence": phase(t0, t1, a0, a1, p0, p1), "sound": phase(t1, t2, a1, a2, p1, p2), "sound_kind": sound,
            "load": open(os.path.join(d, "loadavg")).read().split()[:3],
            "rss_mb": int(open(os.path.join(d, "hwm_kb")).read()) / 1024, "bytes": size}


results = {k: analyse_session(k) for k in runs if k in ("agent", "ultrafast", "veryfast", "office")}
audio_run = analyse_audio() if "audio" in runs else None
idle = analyse_idle() if "idle" in runs else None

cols = [k for k in ("agent", "ultrafast", "veryfast", "office") if k in results]
names = {"agent": "deskaudit 5fps", "ultrafast": "ffmpeg ultrafast", "veryfast": "ffmpeg veryfast",
         "office": "deskaudit office"}
w = 22
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
if "office" in results:
    o = results["office"]
    print(f"office: {o['mb_h']:.3f} MB/hour (target < 1.25), CPU {o['cpu_pct']:.3f}% of one core, peak RSS {o['rss_mb']:.1f} MB, "
          f"load average {o['load']}")
for k in ("agent", "office"):
    ev = results.get(k, {}).get("events")
    if ev:
        kinds = ", ".join(f"{t} {n}" for t, n in sorted(ev["types"].items()))
        print(f"{k}: activity events {ev['count']} ({kinds}): CPU {ev['cpu_pct']:.4f}% of one core (target < 0.1), "
              f"{ev['kb_h']:.2f} KB/hour of documents (target < 50), load average {results[k]['load']}")
if idle:
    print(f"idle desktop (xclock ticking), agent, {idle['window_s']:.0f} s: CPU {idle['cpu_pct']:.3f}% of one core, "
          f"{idle['mb_h']:.3f} MB/hour (after the first picture), {idle['frames']} frames, {idle['bytes']} bytes, "
          f"peak RSS {idle['rss_mb']:.1f} MB (targets < 0.3% and < 0.5 MB/hour), load average {idle['load']}")
if audio_run:
    kind = "speech and music" if audio_run["sound_kind"] == "speech" else "music"
    print()
    print(f"audio run: idle desktop (xclock), agent with sound, load average {' '.join(audio_run['load'])} at the end")
    print("phase".ljust(24) + "length (s)".rjust(12) + "audio MB/h".rjust(12) + "video MB/h".rjust(12)
          + "audio CPU %".rjust(13) + "process CPU %".rjust(15))
    for name, label in (("silence", "silence"), ("sound", kind)):
        p = audio_run[name]
        print(label.ljust(24) + f"{p['s']:.1f}".rjust(12) + f"{p['audio_mb_h']:.3f}".rjust(12)
              + f"{p['video_mb_h']:.3f}".rjust(12) + f"{p['audio_cpu_pct']:.3f}".rjust(13)
              + f"{p['process_cpu_pct']:.3f}".rjust(15))
    print(f"(audio CPU = the da-audio thread: capture + Opus; audio MB/h includes its trafs; "
          f"peak RSS {audio_run['rss_mb']:.1f} MB)")
print("(MB = 10^6 bytes; CPU = utime+stime of the recorder process over the session)")
