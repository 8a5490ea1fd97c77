"""`make bench`, photo pipeline: one 12 MP JPEG through `process()`, beside two yardsticks.

Measured in the same run, on a camera-like photo made here (nothing binary is committed):
- `tessera.media.processing.process`: every rendition (1080, 640, 320 wide and a
  150 square), JPEG and WebP each, and the blurhash;
- the `vipsthumbnail` command making only the 1080-wide JPEG (a subprocess, as an
  operator would run it; installed with apt-get when missing);
- Pillow doing all of `process()`'s work on its fastest path (JPEG draft mode);
- the peak RSS of a worker process running `process()`, one image at a time and two at
  once (as the server's media pool does by default);
- POST /api/v2/media on a real `tessera serve` with two concurrent clients.

`bench/run.py` calls `photo_bench()`; `python bench/media.py` runs this part alone
(it prints the table and writes nothing).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import blurhash
import httpx
import pyvips
from harness import ROOT, tessera, tessera_env, user_token
from PIL import Image, ImageOps
from PIL import __version__ as pillow_version

from tessera.media.processing import (
    BLURHASH_SIZE,
    JPEG_QUALITY,
    THUMBNAIL,
    WEBP_QUALITY,
    WIDTHS,
    Limits,
    Processed,
    process,
)

__all__ = ["photo_bench"]

PHOTO_SIZE = (4000, 3000)  # 12 MP, stored landscape; EXIF orientation 6 makes it portrait
LIMITS = Limits(max_pixels=50_000_000, min_side=32)  # the settings' defaults
TARGET_VS_VIPSTHUMBNAIL = 2.0
TARGET_VS_PILLOW = 1.0
TARGET_PEAK_MB = 300
PEAK_ROUNDS = 3
UPLOAD_CLIENTS = 2
MEDIA_ENDPOINT = "/api/v2/media"
# The peak-memory worker: argv is the photo's path, images at once, rounds; it prints
# its VmHWM (peak resident set since its exec) in kB.
PEAK_WORKER = """
import re, sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from tessera.media.processing import Limits, process

data, at_once, rounds = Path(sys.argv[1]).read_bytes(), int(sys.argv[2]), int(sys.argv[3])
limits = Limits(max_pixels=50_000_000, min_side=32)
with ThreadPoolExecutor(max(at_once, 1)) as pool:
    for _ in range(rounds):
        list(pool.map(lambda _: process(data, limits), range(at_once)))
print(re.search(r"VmHWM:\\s+(\\d+) kB", Path("/proc/self/status").read_text())[1])
"""


@dataclass(frozen=True)
class PhotoResults:
    photo_bytes: int
    tessera_ms: float
    vipsthumbnail_ms: float
    vipsthumbnail_version: str
    pillow_ms: float
    baseline_mb: float
    peak_mb: dict[int, float]  # images processed at once -> peak RSS of the worker
    uploads_per_s: float
    upload_p50_ms: float
    server_peak_mb: float
    uploads: int
    runs: int
    load: float


def make_photo() -> bytes:
    """A camera-like 12 MP JPEG: gradients, flat shapes, blotches and grain; Q90, 4:2:0.

    Pure noise would make an unrealistic ~12 MB file; this lands at ~3–5 MB like a
    phone photo. EXIF orientation 6 makes every pipeline rotate it, as phones require.
    """
    width, height = PHOTO_SIZE
    xyz = pyvips.Image.xyz(width, height)
    x, y = xyz[0], xyz[1]
    image = (x * (170 / width) + 40).bandjoin(
        [y * (150 / height) + 50, (x + y) * (120 / (width + height)) + 70]
    )
    blotches = pyvips.Image.gaussnoise(width // 8, height // 8, sigma=25, mean=0).resize(
        8, kernel="linear"
    )
    image = (image + blotches).cast("uchar").copy_memory()
    shapes = random.Random(12)  # a fixed seed: the same photo on every run
    for _ in range(40):
        colour = [shapes.randrange(256) for _ in range(3)]
        left, top = shapes.randrange(width), shapes.randrange(height)
        radius = shapes.randrange(50, 500)
        if shapes.random() < 0.5:
            image = image.draw_circle(colour, left, top, radius, fill=True)
        else:
            image = image.draw_rect(colour, left, top, radius * 2, radius, fill=True)
    grain = pyvips.Image.gaussnoise(width, height, sigma=9, mean=0).bandjoin(
        [pyvips.Image.gaussnoise(width, height, sigma=9, mean=0) for _ in range(2)]
    )
    image = (image + grain).cast("uchar").copy()
    image.set_type(pyvips.GValue.gint_type, "orientation", 6)
    photo: bytes = image.jpegsave_buffer(Q=90, subsample_mode="on")
    return photo


def median_ms(works: dict[str, Callable[[], object]], runs: int) -> dict[str, float]:
    """Median wall time of each work after a warm-up, the works taking turns run by run so
    that a burst of load elsewhere on the machine falls on all of them alike."""
    times: dict[str, list[float]] = {name: [] for name in works}
    for turn in range(runs + 1):
        for name, work in works.items():
            start = time.perf_counter()
            work()
            if turn:  # turn 0 warms up caches, page cache and lazy imports
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(elapsed) * 1000 for name, elapsed in times.items()}


def ensure_vipsthumbnail() -> str:
    found = shutil.which("vipsthumbnail")
    if found:
        return found
    print("bench: vipsthumbnail not found; `apt-get update`, `apt-get install -y libvips-tools`")
    subprocess.run(["apt-get", "update"], check=True)
    subprocess.run(["apt-get", "install", "-y", "libvips-tools"], check=True)
    return shutil.which("vipsthumbnail") or sys.exit("bench: vipsthumbnail is still missing")


def vipsthumbnail(photo: Path) -> tuple[Callable[[], object], str]:
    """The command making the 1080-wide JPEG (checked once), and its libvips version."""
    command = ensure_vipsthumbnail()
    out = photo.with_name("vipsthumbnail-1080.jpg")
    # The same JPEG options as process() writes; `strip` is libvips < 8.15's `keep=none`.
    options = f"[Q={JPEG_QUALITY},interlace,optimize_coding,strip]"
    args = [command, str(photo), "--size", f"{WIDTHS['original']}x", "-o", f"{out}{options}"]
    subprocess.run(args, check=True)
    made = pyvips.Image.new_from_file(str(out))
    if made.width != WIDTHS["original"]:
        sys.exit(f"bench: vipsthumbnail made {made.width}×{made.height}, not 1080 wide")
    vips = shutil.which("vips")
    version = (
        subprocess.run([vips, "--version"], check=True, capture_output=True).stdout.decode()
        if vips
        else "libvips ?"
    )
    return lambda: subprocess.run(args, check=True), version.strip().replace("vips-", "libvips ")


def _pillow_encode(image: Image.Image) -> tuple[tuple[int, int], bytes, bytes]:
    jpeg, webp = io.BytesIO(), io.BytesIO()
    image.save(jpeg, "JPEG", quality=JPEG_QUALITY, progressive=True, optimize=True)
    image.save(webp, "WEBP", quality=WEBP_QUALITY)
    return image.size, jpeg.getvalue(), webp.getvalue()


def pillow_process(data: bytes) -> tuple[dict[str, tuple[int, int]], str]:
    """All of process()'s outputs with Pillow: sizes of each rendition, and the blurhash.

    Draft mode lets libjpeg decode at 1/2, 1/4 or 1/8 scale, the largest that still
    covers 1080 px on both sides; smaller sizes come from the 1080 one, as in process().
    """
    with Image.open(io.BytesIO(data)) as opened:
        side = WIDTHS["original"]
        opened.draft("RGB", (side, side))
        upright = ImageOps.exif_transpose(opened).convert("RGB")
    lanczos = Image.Resampling.LANCZOS

    def to_width(image: Image.Image, width: int) -> Image.Image:
        height = round(image.height * width / image.width)
        return image.resize((width, height), lanczos, reducing_gap=2.0)

    largest = to_width(upright, WIDTHS["original"])
    sizes = {"original": _pillow_encode(largest)[0]}
    for name in ("small", "tiny"):
        sizes[name] = _pillow_encode(to_width(largest, WIDTHS[name]))[0]
    square = min(largest.size)
    left, top = (largest.width - square) // 2, (largest.height - square) // 2
    cropped = largest.crop((left, top, left + square, top + square))
    thumbnail = cropped.resize((THUMBNAIL, THUMBNAIL), lanczos, reducing_gap=2.0)
    sizes["thumbnail"] = _pillow_encode(thumbnail)[0]
    small = largest.copy()
    small.thumbnail((BLURHASH_SIZE, BLURHASH_SIZE))
    pixels, row = small.tobytes(), small.width * 3
    rows = [
        [list(pixels[y * row + x * 3 : y * row + x * 3 + 3]) for x in range(small.width)]
        for y in range(small.height)
    ]
    return sizes, str(blurhash.encode(rows, components_x=4, components_y=3))


def check_same_sizes(ours: Processed, pillow: dict[str, tuple[int, int]]) -> None:
    """Both pipelines must make the same renditions, or the comparison means nothing."""
    mine = {name: (r.width, r.height) for name, r in ours.renditions.items()}
    if mine != pillow:
        sys.exit(f"bench: process() made {mine} but Pillow made {pillow}")


def peak_mb(photo: Path, at_once: int) -> float:
    """Peak RSS of a fresh worker process running process() (0 at once: the baseline).

    The worker imports tessera.media.processing (which, through the tessera.media
    package, loads most of the app) and reports its own VmHWM. Not ru_maxrss: Linux
    carries the parent's peak RSS across fork and exec into the child's ru_maxrss, so
    a child of this (large) harness would report the harness.
    """
    rounds = str(PEAK_ROUNDS if at_once else 0)
    args = [sys.executable, "-c", PEAK_WORKER, str(photo), str(at_once), rounds]
    done = subprocess.run(args, cwd=ROOT, check=True, capture_output=True, text=True)
    return int(done.stdout.split()[-1]) / 1024


async def _upload_all(url: str, token: str, photo: bytes, count: int) -> tuple[float, float]:
    """uploads/s and p50 latency (ms) of `count` uploads over UPLOAD_CLIENTS clients."""
    latencies: list[float] = []
    files = {"file": ("photo.jpg", photo, "image/jpeg")}
    headers = {"Authorization": f"Bearer {token}"}

    async def client(uploads: int, record: bool) -> None:
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120) as http:
            for _ in range(uploads):
                start = time.perf_counter()
                answer = await http.post(MEDIA_ENDPOINT, files=files)
                if answer.status_code != 200:
                    sys.exit(f"bench: upload answered {answer.status_code}: {answer.text}")
                if record:
                    latencies.append(time.perf_counter() - start)

    await asyncio.gather(*(client(1, False) for _ in range(UPLOAD_CLIENTS)))  # warm-up
    start = time.perf_counter()
    await asyncio.gather(*(client(count // UPLOAD_CLIENTS, True) for _ in range(UPLOAD_CLIENTS)))
    elapsed = time.perf_counter() - start
    return len(latencies) / elapsed, statistics.median(latencies) * 1000


def server_peak_mb() -> float:
    """VmHWM of the `tessera serve` this process started: its processing happens there."""
    me = os.getpid()
    for pid in Path(f"/proc/{me}/task/{me}/children").read_text().split():
        if b"serve" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0"):
            status = Path(f"/proc/{pid}/status").read_text()
            return int(status.split("VmHWM:")[1].split()[0]) / 1024
    sys.exit("bench: found no `tessera serve` among this process's children")


def uploads_per_s(photo: bytes, count: int) -> tuple[float, float, float]:
    """uploads/s, p50 latency (ms) and the server's peak RSS (MB) afterwards."""
    with (
        tempfile.TemporaryDirectory(prefix="tessera-bench-media-") as tmp,
        tessera(tessera_env(tmp), Path(tmp), "tessera-media") as url,
    ):
        rate, p50 = asyncio.run(_upload_all(url, user_token(url), photo, count))
        return rate, p50, server_peak_mb()


def measure(runs: int, uploads: int) -> PhotoResults:
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="tessera-bench-photo-") as tmp:
        photo_path = Path(tmp) / "photo.jpg"
        photo = make_photo()
        photo_path.write_bytes(photo)
        print(f"bench: test photo {PHOTO_SIZE[0]}×{PHOTO_SIZE[1]}, {len(photo) / 1e6:.1f} MB")
        check_same_sizes(process(photo, LIMITS), pillow_process(photo)[0])
        run_thumbnail, version = vipsthumbnail(photo_path)
        works = {
            "process()": lambda: process(photo, LIMITS),
            f"vipsthumbnail ({version})": run_thumbnail,
            "Pillow": lambda: pillow_process(photo),
        }
        medians = median_ms(works, runs)
        print("bench: " + ", ".join(f"{name} {ms:.0f} ms" for name, ms in medians.items()))
        tessera, thumbnail, pillow = medians.values()
        baseline = peak_mb(photo_path, 0)
        peaks = {n: peak_mb(photo_path, n) for n in (1, 2)}
        print(f"bench: worker peak RSS {peaks} MB (baseline {baseline:.0f} MB)")
    rate, p50, served_peak = uploads_per_s(photo, uploads)
    print(f"bench: {rate:.2f} uploads/s, p50 {p50:.0f} ms, server peak RSS {served_peak:.0f} MB")
    return PhotoResults(
        photo_bytes=len(photo),
        tessera_ms=tessera,
        vipsthumbnail_ms=thumbnail,
        vipsthumbnail_version=version,
        pillow_ms=pillow,
        baseline_mb=baseline,
        peak_mb=peaks,
        uploads_per_s=rate,
        upload_p50_ms=p50,
        server_peak_mb=served_peak,
        uploads=uploads // UPLOAD_CLIENTS * UPLOAD_CLIENTS,
        runs=runs,
        load=max(load, os.getloadavg()[0]),
    )


def verdict(met: bool) -> str:
    return "met" if met else "**missed**"


def table(r: PhotoResults) -> str:
    today = datetime.now(UTC).date().isoformat()
    vs_thumb = r.tessera_ms / r.vipsthumbnail_ms
    vs_pillow = r.tessera_ms / r.pillow_ms
    mb = r.photo_bytes / 1e6
    lines = [
        f"Photo pipeline: one {PHOTO_SIZE[0]}×{PHOTO_SIZE[1]} JPEG ({mb:.1f} MB, Q90, EXIF "
        f"rotated), median of {r.runs} runs; {today}, {os.cpu_count()} cores, "
        f"load average {r.load:.1f} (other work on the machine makes these noisy).",
        "",
        "| measure | result | target |",
        "|---|---:|---|",
        f"| `process()`: 1080/640/320 + 150 square, JPEG + WebP each, blurhash "
        f"| {r.tessera_ms:.0f} ms | |",
        f"| `vipsthumbnail`, 1080 JPEG only ({r.vipsthumbnail_version}, subprocess) "
        f"| {r.vipsthumbnail_ms:.0f} ms | |",
        f"| Pillow {pillow_version}, draft mode, the same outputs | {r.pillow_ms:.0f} ms | |",
        f"| `process()` ÷ `vipsthumbnail` | {vs_thumb:.2f}× "
        f"| ≤ {TARGET_VS_VIPSTHUMBNAIL:.0f}×: {verdict(vs_thumb <= TARGET_VS_VIPSTHUMBNAIL)} |",
        f"| `process()` ÷ Pillow | {vs_pillow:.2f}× "
        f"| ≤ {TARGET_VS_PILLOW:.0f}×: {verdict(vs_pillow <= TARGET_VS_PILLOW)} |",
        *(
            f"| worker peak RSS, {n} image{'s' if n > 1 else ''} at once "
            f"(idle worker {r.baseline_mb:.0f} MB) | {mb_:.0f} MB "
            f"| < {TARGET_PEAK_MB} MB: {verdict(mb_ < TARGET_PEAK_MB)} |"
            for n, mb_ in r.peak_mb.items()
        ),
        f"| `POST {MEDIA_ENDPOINT}`, {UPLOAD_CLIENTS} clients, {r.uploads} uploads "
        f"(embedded) | {r.uploads_per_s:.2f}/s, p50 {r.upload_p50_ms:.0f} ms | |",
        f"| `tessera serve` peak RSS after those uploads (2 media workers) "
        f"| {r.server_peak_mb:.0f} MB "
        f"| < {TARGET_PEAK_MB} MB: {verdict(r.server_peak_mb < TARGET_PEAK_MB)} |",
    ]
    return "\n".join(lines) + "\n"


def photo_bench(runs: int = 7, uploads: int = 20) -> str:
    """Run every photo measurement; return the Markdown table."""
    return table(measure(runs, uploads))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7, help="timed runs per pipeline")
    parser.add_argument("--uploads", type=int, default=20, help="uploads timed in total")
    args = parser.parse_args()
    print(f"\n{photo_bench(args.runs, args.uploads)}")


if __name__ == "__main__":
    main()
