#!/usr/bin/env python3
# encode_frames.py TOOL WORK VARIANT...: the comparison of encode_frames.sh.
# A VARIANT is NAME=ARGS (deskaudit-encode-frames options, split on spaces).
import os, resource, subprocess, sys

tool, work, variants = sys.argv[1], sys.argv[2], sys.argv[3:]
# (plan, frames read by OCR, crop of the window that changes)
PAGE_CROP, TYPING_CROP = "1210:915:100:55", "1010:520:40:60"
PLANS = {"pages": ([3, 8, 12], PAGE_CROP), "typing": ([6, 12], TYPING_CROP), "keyframe": ([7, 9], PAGE_CROP)}


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from legibility import ocr, recall, sh, ssim  # noqa: E402


reference = {}
rows = []
for v in variants:
    name, _, args = v.partition("=")
    row = {"name": name}
    for plan, (check, crop) in PLANS.items():
        d = os.path.join(work, "out", name, plan)
        os.makedirs(d, exist_ok=True)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        r = subprocess.run([tool, "--size", "1920x1080", "--plan", os.path.join(work, "plan-" + plan), "--out",
                            os.path.join(d, "s.h264")] + args.split(), capture_output=True, text=True, cwd=work)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if r.returncode:
            sys.exit(f"{name} {plan}: {r.stderr.strip()}")
        frames = [l.split() for l in r.stdout.splitlines() if l.startswith("frame ")]
        sizes = [(f[2], int(f[3])) for f in frames]
        lines = [l.split() for l in open(os.path.join(work, "plan-" + plan)) if l.strip()]
        sh("ffmpeg", "-nostdin", "-v", "error", "-y", "-i", os.path.join(d, "s.h264"), os.path.join(d, "f%03d.png"))
        recalls, ssims = [], []
        for i in check:
            src = os.path.join(work, "frames", os.path.basename(lines[i][0]).replace(".yuv", ".png"))
            if src not in reference:
                reference[src] = ocr(src, crop)
            got = os.path.join(d, f"f{i + 1:03d}.png")
            recalls.append(recall(reference[src], ocr(got, crop)))
            ssims.append(ssim(got, src))
        row[plan] = {"sizes": sizes, "recall": min(recalls), "ssim": min(ssims),
                     "cpu": after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime}
    rows.append(row)

print(f"{'variant':<14}{'page B':>9}{'OCR':>7}{'SSIM':>8}{'line B':>8}{'OCR':>7}{'SSIM':>8}{'key B':>9}{'OCR':>7}{'SSIM':>8}{'page ms':>9}")
for row in rows:
    p, t, k = row["pages"], row["typing"], row["keyframe"]
    fresh = [s for kind, s in p["sizes"] if kind == "fresh"]
    typed = [s for kind, s in t["sizes"] if kind == "fresh"]
    key = [s for kind, s in k["sizes"] if kind == "key"][1]
    print(f"{row['name']:<14}{sum(fresh) / len(fresh):>9.0f}{p['recall']:>7.3f}{p['ssim']:>8.4f}{sum(typed) / len(typed):>8.0f}"
          f"{t['recall']:>7.3f}{t['ssim']:>8.4f}{key:>9}{k['recall']:>7.3f}{k['ssim']:>8.4f}{1000 * p['cpu'] / len(p['sizes']):>9.1f}")
print("page B: mean bytes of a fresh page; line B: of a typed line; key B: a keyframe of a page already coded;"
      " OCR: lowest word recall against the screenshot's reading; SSIM: lowest, whole screen; page ms: encode CPU per picture of the pages plan")
