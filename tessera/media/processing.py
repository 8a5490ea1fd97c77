"""Turn an uploaded image into the variants we serve, with libvips (pyvips).

Pure functions on bytes, run in a worker thread: libvips releases the GIL, so
processing never stalls the event loop. Decode once (shrink-on-load straight to the
largest size we serve), derive the smaller sizes from that, and strip every metadata
block from what we write.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import blurhash
import pyvips

from tessera.core.observability import MEDIA_PROCESSING_SECONDS

__all__ = [
    "DecodeError",
    "Limits",
    "Processed",
    "Rendition",
    "TooLarge",
    "UnsupportedType",
    "process",
    "profile_image",
    "sniff",
]

WIDTHS = {"original": 1080, "small": 640, "tiny": 320}
THUMBNAIL = 150
AVATAR_SIZES = (400, 80)
HEADER_SIZE = (1500, 500)
JPEG_QUALITY = 85
WEBP_QUALITY = 80
BLURHASH_SIZE = 32
ICC_PROFILE = "icc-profile-data"  # libvips's name for an embedded profile

_ENCODERS = ThreadPoolExecutor(os.cpu_count() or 2, thread_name_prefix="media-encode")

# (magic test, our type name, MIME type)
_SIGNATURES: tuple[tuple[str, str], ...] = (
    ("jpeg", "image/jpeg"),
    ("png", "image/png"),
    ("webp", "image/webp"),
    ("gif", "image/gif"),
    ("heif", "image/heic"),
    ("avif", "image/avif"),
)


class MediaError(Exception):
    """An upload we refuse; the message is fit for the client."""


class UnsupportedType(MediaError):
    pass


class TooLarge(MediaError):
    pass


class DecodeError(MediaError):
    pass


@dataclass(frozen=True, slots=True)
class Limits:
    max_pixels: int
    min_side: int


@dataclass(frozen=True, slots=True)
class Rendition:
    """One size, encoded twice (JPEG for everyone, WebP beside it)."""

    name: str
    width: int
    height: int
    jpeg: bytes
    webp: bytes


@dataclass(frozen=True, slots=True)
class Processed:
    mime_type: str
    source_width: int
    source_height: int
    renditions: dict[str, Rendition]
    blurhash: str


def sniff(head: bytes) -> str | None:
    """The MIME type the first bytes announce (never the name or declared type)."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[4:8] == b"ftyp":
        # The major brand, then the compatible ones: an AVIF may well start `mif1`.
        end = min(len(head), int.from_bytes(head[:4], "big"))
        brands = {head[8:12]} | {head[i : i + 4] for i in range(16, end - 3, 4)}
        if brands & {b"avif", b"avis"}:
            return "image/avif"
        if brands & {b"heic", b"heix", b"hevc", b"hevx", b"mif1", b"msf1", b"heim", b"heis"}:
            return "image/heic"
    return None


def _header(data: bytes) -> pyvips.Image:
    """The image's header only: libvips reads dimensions without decoding pixels."""
    try:
        return pyvips.Image.new_from_buffer(data, "", access="sequential")
    except pyvips.Error:
        raise DecodeError("The file could not be read as an image") from None


def _validate(data: bytes, limits: Limits) -> tuple[str, int, int]:
    """Type, upright width and height, from the header alone (no pixel is decoded)."""
    mime_type = sniff(data[:64])
    if mime_type is None:
        raise UnsupportedType("The file is not a JPEG, PNG, WebP, GIF, HEIC or AVIF image")
    header = _header(data)
    width, height = header.width, header.height
    if header.get_typeof("orientation") and header.get("orientation") in (5, 6, 7, 8):
        width, height = height, width
    if width * height > limits.max_pixels:
        raise TooLarge(f"The image has more than {limits.max_pixels} pixels")
    if min(width, height) < limits.min_side:
        raise TooLarge(f"The image is smaller than {limits.min_side} pixels on a side")
    return mime_type, width, height


def _load(data: bytes, width: int, height: int, crop: str = "none") -> pyvips.Image:
    """Decode with shrink-on-load, upright, in sRGB, three bands, in memory.

    Only an image that carries an ICC profile (a Display P3 phone photo, say) goes
    through colour management. An untagged one is sRGB already (libvips assumes so
    too), and asking for `output_profile` anyway sends every pixel through XYZ and an
    lcms export that changes nothing visible yet costs more than the decode itself.
    """
    colour = {"output_profile": "srgb"} if _header(data).get_typeof(ICC_PROFILE) else {}
    image = pyvips.Image.thumbnail_buffer(
        data,
        width,
        height=height,
        size="down",
        crop=crop,
        **colour,
        # thumbnail's own `fail_on` does not reach the loader (libvips 8.18): a truncated
        # file would decode to grey; the option string does reach it.
        option_string="fail_on=truncated",
    )
    return _flatten(image).copy_memory()


def process(data: bytes, limits: Limits, focus: tuple[float, float] = (0.0, 0.0)) -> Processed:
    """Validate and render every variant; raises a MediaError subclass for bad input."""
    with MEDIA_PROCESSING_SECONDS.labels("photo").time():
        return _process(data, limits, focus)


def _process(data: bytes, limits: Limits, focus: tuple[float, float]) -> Processed:
    mime_type, width, height = _validate(data, limits)
    try:
        largest = _load(data, WIDTHS["original"], 10_000_000)
        sizes = {"original": largest}
        for name in ("small", "tiny"):
            sizes[name] = _shrink_to(largest, WIDTHS[name])
        sizes["thumbnail"] = _square(largest, focus)
        renditions = _encode_all(sizes)
        hash_ = _blurhash(largest)
    except pyvips.Error:
        raise DecodeError("The image is damaged or truncated") from None
    return Processed(mime_type, width, height, renditions, hash_)


def profile_image(data: bytes, limits: Limits, kind: str) -> dict[str, Rendition]:
    """An avatar (squares of 400 and 80) or a header (1500×500), cropped at the centre."""
    with MEDIA_PROCESSING_SECONDS.labels(kind).time():
        return _profile_image(data, limits, kind)


def _profile_image(data: bytes, limits: Limits, kind: str) -> dict[str, Rendition]:
    _validate(data, limits)
    try:
        if kind == "avatar":
            square = _load(data, AVATAR_SIZES[0], AVATAR_SIZES[0], crop="centre")
            return {
                f"{kind}{size}": _encode(f"{kind}{size}", _shrink_to(square, size))
                for size in AVATAR_SIZES
            }
        banner = _crop_to_aspect(_load(data, HEADER_SIZE[0], 10_000_000), HEADER_SIZE)
        return {kind: _encode(kind, banner)}
    except pyvips.Error:
        raise DecodeError("The image is damaged or truncated") from None


def _crop_to_aspect(image: pyvips.Image, box: tuple[int, int]) -> pyvips.Image:
    """The largest centred part of `image` with the shape of `box`."""
    width = min(image.width, round(image.height * box[0] / box[1]))
    height = min(image.height, round(width * box[1] / box[0]))
    return image.crop((image.width - width) // 2, (image.height - height) // 2, width, height)


def _flatten(image: pyvips.Image) -> pyvips.Image:
    """Drop alpha onto white and keep three sRGB bands, as JPEG needs."""
    if image.hasalpha():
        image = image.flatten(background=[255, 255, 255])
    if image.bands == 1:
        image = image.colourspace("srgb")
    if image.format != "uchar":
        image = image.cast("uchar")
    return image


def _shrink_to(image: pyvips.Image, width: int) -> pyvips.Image:
    if image.width <= width:
        return image
    return image.resize(width / image.width)


def _square(image: pyvips.Image, focus: tuple[float, float]) -> pyvips.Image:
    """A THUMBNAIL-sized square around the focus point (x right, y up, both in [-1, 1])."""
    side = min(image.width, image.height)
    centre_x = (focus[0] + 1) / 2 * image.width
    centre_y = (1 - focus[1]) / 2 * image.height
    left = int(min(max(centre_x - side / 2, 0), image.width - side))
    top = int(min(max(centre_y - side / 2, 0), image.height - side))
    square = image.crop(left, top, side, side)
    return square.resize(THUMBNAIL / side) if side != THUMBNAIL else square


def _encode(name: str, image: pyvips.Image) -> Rendition:
    return Rendition(name, image.width, image.height, _jpeg(image), _webp(image))


def _encode_all(images: dict[str, pyvips.Image]) -> dict[str, Rendition]:
    """Every JPEG and WebP of `images` (largest first), encoded side by side.

    libvips lets go of the GIL while it encodes, and the largest WebP alone is about a
    third of all the work, so on two cores everything else fits beside it. The pool has
    one thread per core, whatever the number of uploads being processed at once.
    """
    webps = {name: _ENCODERS.submit(_webp, image) for name, image in images.items()}
    jpegs = {name: _ENCODERS.submit(_jpeg, image) for name, image in images.items()}
    return {
        name: Rendition(name, image.width, image.height, jpegs[name].result(), webps[name].result())
        for name, image in images.items()
    }


def _jpeg(image: pyvips.Image) -> bytes:
    jpeg: bytes = image.jpegsave_buffer(
        Q=JPEG_QUALITY, interlace=True, optimize_coding=True, keep="none"
    )
    return jpeg


def _webp(image: pyvips.Image) -> bytes:
    webp: bytes = image.webpsave_buffer(Q=WEBP_QUALITY, keep="none")
    return webp


def _blurhash(image: pyvips.Image) -> str:
    small = image.thumbnail_image(BLURHASH_SIZE, height=BLURHASH_SIZE)
    pixels = small.write_to_memory()
    row = small.width * 3
    rows = [
        [list(pixels[y * row + x * 3 : y * row + x * 3 + 3]) for x in range(small.width)]
        for y in range(small.height)
    ]
    return str(blurhash.encode(rows, components_x=4, components_y=3))
