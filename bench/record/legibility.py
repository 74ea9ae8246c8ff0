"""How legible a recorded frame is, as every recording check here measures it:
the words tesseract reads in it, their recall against the words read in a
screenshot of the same moment, and ffmpeg's SSIM between two pictures.

Used by bench/record/analyse.py, bench/record/encode_frames.py and the Windows
agent's test (tests/integration/windows/check_recording.py), so a recording
passes the test by the same measure the benchmark prints."""
import collections
import os
import re
import struct
import subprocess


def sh(*cmd):
    return subprocess.run(cmd, check=False, capture_output=True, text=True)


def words(text):
    """The lower-case words of a text, counted."""
    return collections.Counter(re.findall(r"[a-z]+", text.lower()))


def recall(expected, got):
    """The share of the expected words (counted) found in got."""
    total = sum(expected.values())
    return sum(min(c, got[w]) for w, c in expected.items()) / total if total else 0.0


def ocr(png, crop=None):
    """The words tesseract reads in a picture (in the ffmpeg crop W:H:X:Y of it, if given)."""
    if crop:
        cropped = png + ".crop.png"
        sh("ffmpeg", "-nostdin", "-v", "error", "-y", "-i", png, "-vf", f"crop={crop}", cropped)
        png = cropped
    return words(sh("tesseract", png, "stdout").stdout)


def png_size(png):
    """(width, height) of a PNG file, from its IHDR chunk; None when it is not a PNG."""
    with open(png, "rb") as f:
        head = f.read(24)
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", head[16:24])


def window_crop(geometry_file, width, height):
    """The ffmpeg crop W:H:X:Y of a window's area ("X Y W H" in geometry_file,
    written by watch-checkpoints.sh) clipped to a width x height picture;
    None when the file is missing or malformed or the area is off the picture."""
    if not os.path.exists(geometry_file):
        return None
    try:
        x, y, w, h = (int(v) for v in open(geometry_file).read().split())
    except ValueError:
        return None
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(width, x + w), min(height, y + h)
    if x1 - x0 < 16 or y1 - y0 < 16:
        return None
    return f"{x1 - x0}:{y1 - y0}:{x0}:{y0}"


def ssim(a, b):
    """ffmpeg's SSIM (All) of two pictures of one size; NaN when it gives none."""
    r = sh("ffmpeg", "-nostdin", "-i", a, "-i", b, "-lavfi", "ssim", "-f", "null", "-")
    m = re.search(r"All:([0-9.]+)", r.stderr)
    return float(m.group(1)) if m else float("nan")
