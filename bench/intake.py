"""Benchmark the photo intake against a bare Pillow decode and one JPEG encode.

Run as ``python bench/intake.py [--repeat N]``. A 12-megapixel JPEG (4000x3000, noise over
gradients so it compresses like a photo, with EXIF orientation 6 and GPS so the rotation and
stripping paths are exercised) is generated in memory. In the same process the script times

* baseline: ``Image.open(...).load()`` followed by one quality-90 JPEG encode of that image;
* candidate: ``process_image(data)``;

interleaved, N times each after a warm-up, and reports the ratio of the medians. The same
picture with orientation 1 is timed as well, for comparison only.

Memory is reported relative to one decoded frame (width * height * 3 bytes). tracemalloc is
measured too, but it only sees Python allocations: Pillow takes its pixel buffers from C malloc,
so the tracemalloc peak covers little more than the encoded bytes and badly understates the
truth. The reported ``peak_mem_ratio`` is therefore the RSS one: baseline and candidate each run
once in a fresh subprocess, and the peak RSS after the run minus the resident size just before
it is what the run cost. On Linux the peak is read from ``VmHWM`` in /proc/self/status rather
than ``ru_maxrss``, because a child's ``ru_maxrss`` starts from the parent's peak at fork time
(here the parent has just generated the photo, which would swamp the measurement); elsewhere
``ru_maxrss`` is used. Pillow keeps RGB pixels four bytes apart, so a single decoded frame
already counts as about 1.33 on this scale.

The last output line is exactly ``ratio=<x> peak_mem_ratio=<y>``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw

from mi_portal.services.images import process_image

WIDTH, HEIGHT = 4000, 3000


def make_pixels() -> Image.Image:
    """A 12 MP picture with photo-like entropy: noise over gradients, with some hard edges."""
    size = (WIDTH, HEIGHT)
    across = Image.linear_gradient("L").rotate(90).resize(size)
    down = Image.linear_gradient("L").resize(size)
    red = ImageChops.add(
        ImageChops.multiply(across, across), Image.effect_noise(size, 30), 2.0, -64
    )
    green = Image.blend(down, Image.effect_noise(size, 40), 0.5)
    blue = Image.blend(ImageChops.invert(across), Image.effect_noise(size, 50), 0.4)
    photo = Image.merge("RGB", (red, green, blue))
    draw = ImageDraw.Draw(photo)
    # Some hard edges, as a real scene has, so the encoder is not only fed smooth noise.
    for x in range(0, WIDTH, 97):
        draw.line([(x, 0), (x + 600, HEIGHT)], fill=(240, 230, 200), width=3)
    for radius in range(40, 1400, 53):
        box = (WIDTH // 2 - radius, HEIGHT // 2 - radius, WIDTH // 2 + radius, HEIGHT // 2 + radius)
        draw.ellipse(box, outline=(20, 30, 40), width=4)
    return photo


def make_photo(pixels: Image.Image, orientation: int) -> bytes:
    """The picture as a camera JPEG: quality 92, EXIF orientation, make, model, time and GPS."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "BenchCam"
    exif[0x0110] = "Model 12"
    exif[0x0132] = "2026:01:02 03:04:05"
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (51.0, 30.0, 26.4)
    gps[3] = "W"
    gps[4] = (0.0, 7.0, 39.9)
    out = io.BytesIO()
    pixels.save(out, format="JPEG", quality=92, exif=exif)
    return out.getvalue()


def baseline(data: bytes) -> None:
    """Bare Pillow: decode the file and encode it once at quality 90."""
    image = Image.open(io.BytesIO(data))
    image.load()
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90)


def candidate(data: bytes) -> None:
    """The intake pipeline under test."""
    process_image(data)


RUNS: dict[str, Callable[[bytes], None]] = {"baseline": baseline, "candidate": candidate}


def median_seconds(data: bytes, repeat: int) -> dict[str, float]:
    """Median wall time of each run, interleaved so drift affects both alike.

    The median CPU time of this process during each run is returned too, under "<name> cpu":
    on a machine shared with other work it moves far less than the wall time.
    """
    for run in RUNS.values():
        run(data)
    times: dict[str, list[float]] = {key: [] for name in RUNS for key in (name, f"{name} cpu")}
    for _ in range(repeat):
        for name, run in RUNS.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            run(data)
            times[name].append(time.perf_counter() - start)
            times[f"{name} cpu"].append(time.process_time() - start_cpu)
    return {key: statistics.median(values) for key, values in times.items()}


def tracemalloc_peak(data: bytes) -> int:
    """Peak of Python-visible allocations during one candidate run."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        candidate(data)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def resident_bytes() -> int:
    """Current resident set size, or the peak so far where /proc is not available."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return peak_resident_bytes()
    return pages * os.sysconf("SC_PAGE_SIZE")


def peak_resident_bytes() -> int:
    """Peak resident set size of this process image so far."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, IndexError, ValueError):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports kilobytes, macOS bytes.
    return peak if sys.platform == "darwin" else peak * 1024


def child(name: str, path: str) -> None:
    """Run one measurement in this fresh process and print its RSS increase as JSON."""
    data = Path(path).read_bytes()
    # Load the plugins and code paths on a tiny photo so their set-up is not counted.
    tiny = io.BytesIO()
    Image.new("RGB", (8, 8)).save(tiny, format="JPEG")
    RUNS[name](tiny.getvalue())
    before = resident_bytes()
    RUNS[name](data)
    print(json.dumps({"rss_increase": max(0, peak_resident_bytes() - before)}))


def rss_increase(name: str, path: str) -> int:
    """Peak RSS increase of one run, measured in a fresh interpreter."""
    result = subprocess.run(
        [sys.executable, __file__, "--child", name, "--input", path],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(json.loads(result.stdout.strip().splitlines()[-1])["rss_increase"])


def main() -> None:
    """Generate the photo, time both runs, measure memory and print the summary line last."""
    parser = argparse.ArgumentParser(
        description=(__doc__ or "Photo intake benchmark.").splitlines()[0]
    )
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each (median)")
    parser.add_argument("--child", choices=sorted(RUNS), help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.input)
        return

    repeat = max(1, args.repeat)
    pixels = make_pixels()
    data = make_photo(pixels, orientation=6)
    upright = make_photo(pixels, orientation=1)
    del pixels
    frame_bytes = WIDTH * HEIGHT * 3
    print(f"input: {WIDTH}x{HEIGHT} JPEG, {len(data) / 1e6:.1f} MB, EXIF orientation 6 + GPS")

    medians = median_seconds(data, repeat)
    ratio = medians["candidate"] / medians["baseline"]
    print(
        f"time (median of {repeat}): baseline {medians['baseline'] * 1000:.0f} ms, "
        f"process_image {medians['candidate'] * 1000:.0f} ms"
    )
    print(
        f"CPU time of this process (median): baseline {medians['baseline cpu'] * 1000:.0f} ms, "
        f"process_image {medians['candidate cpu'] * 1000:.0f} ms, "
        f"ratio {medians['candidate cpu'] / medians['baseline cpu']:.2f}"
    )
    # For comparison only: the same photo needing no rotation skips one full-size transpose.
    medians_upright = median_seconds(upright, repeat)
    print(
        f"same photo with orientation 1: baseline {medians_upright['baseline'] * 1000:.0f} ms, "
        f"process_image {medians_upright['candidate'] * 1000:.0f} ms, "
        f"ratio {medians_upright['candidate'] / medians_upright['baseline']:.2f}"
    )

    traced = tracemalloc_peak(data)
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "photo.jpg")
        Path(path).write_bytes(data)
        rss = {name: rss_increase(name, path) for name in RUNS}
    print(
        f"memory per decoded frame ({frame_bytes / 1e6:.0f} MB): "
        f"tracemalloc peak {traced / frame_bytes:.2f} (Python objects only), "
        f"RSS increase baseline {rss['baseline'] / frame_bytes:.2f}, "
        f"process_image {rss['candidate'] / frame_bytes:.2f}"
    )
    peak_mem_ratio = max(rss["candidate"], traced) / frame_bytes
    print(f"ratio={ratio:.2f} peak_mem_ratio={peak_mem_ratio:.2f}")


if __name__ == "__main__":
    main()
