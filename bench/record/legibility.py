"""How legible a recorded frame is, as every recording check here measures it:
the words tesseract reads in it, their recall against the words read in a
screenshot of the same moment, and ffmpeg's SSIM between two pictures.

Used by bench/record/analyse.py, bench/record/encode_frames.py and the Windows
agent's test (tests/integration/windows/check_recording.py), so a recording
passes the test by the same measure the benchmark prints."""
import collections
import re
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


def ssim(a, b):
    """ffmpeg's SSIM (All) of two pictures of one size; NaN when it gives none."""
    r = sh("ffmpeg", "-nostdin", "-i", a, "-i", b, "-lavfi", "ssim", "-f", "null", "-")
    m = re.search(r"All:([0-9.]+)", r.stderr)
    return float(m.group(1)) if m else float("nan")
