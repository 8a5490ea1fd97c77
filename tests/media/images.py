"""Test images made on the spot with libvips (or by hand, where the point is a bad file).

Every picture carries some random noise, so its bytes are new on each call: storage is
content-addressed, and a test must not find the files of another one already there.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

import pyvips

__all__ = [
    "avif",
    "exif_jpeg",
    "gif_two_frames",
    "halves",
    "jpeg",
    "png_claiming",
    "png_with_alpha",
    "svg",
    "text",
    "webp",
    "zip_archive",
]


def picture(width: int, height: int, level: float = 128.0, noise: float = 20.0) -> pyvips.Image:
    """An sRGB image of grey `level` with random noise (unique every time)."""
    bands = [
        pyvips.Image.gaussnoise(width, height, mean=level, sigma=noise).cast("uchar")
        for _ in range(3)
    ]
    image: pyvips.Image = bands[0].bandjoin(bands[1:]).copy(interpretation="srgb")
    return image


def halves(width: int, height: int, first: float, second: float, *, across: bool) -> pyvips.Image:
    """Two flat halves (levels `first` then `second`), side by side when `across`,
    else one above the other; a little noise keeps every image unique."""
    if across:
        left, right = width // 2, width - width // 2
        parts = picture(left, height, first, 2).join(
            picture(right, height, second, 2), "horizontal"
        )
    else:
        top, bottom = height // 2, height - height // 2
        parts = picture(width, top, first, 2).join(picture(width, bottom, second, 2), "vertical")
    image: pyvips.Image = parts.copy(interpretation="srgb")
    return image


def jpeg(width: int = 800, height: int = 600, **options: object) -> bytes:
    data: bytes = picture(width, height).jpegsave_buffer(Q=85, keep="none", **options)
    return data


def webp(width: int = 800, height: int = 600) -> bytes:
    data: bytes = picture(width, height).webpsave_buffer(Q=80)
    return data


def avif(width: int = 400, height: int = 300) -> bytes:
    data: bytes = picture(width, height).heifsave_buffer(compression="av1", Q=50)
    return data


def png_with_alpha(width: int = 300, height: int = 200) -> bytes:
    """Fully transparent: what shows is whatever the alpha is flattened onto."""
    alpha = pyvips.Image.black(width, height).cast("uchar")
    image = picture(width, height, 30).bandjoin(alpha).copy(interpretation="srgb")
    data: bytes = image.pngsave_buffer()
    return data


def gif_two_frames(width: int = 300, height: int = 200) -> bytes:
    """An animation whose first frame is dark and second bright."""
    frames = picture(width, height, 20, 4).join(picture(width, height, 235, 4), "vertical")
    frames = frames.copy()
    frames.set_type(pyvips.GValue.gint_type, "page-height", height)
    data: bytes = frames.gifsave_buffer()
    return data


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header announces `width`×`height` RGB pixels, followed by a few
    bytes of image data: a decompression bomb's shape, cheap to send."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _chunk(b"IEND", b"")
    )


SECRET_NAME = b"Secret Person"
SECRET_COMMENT = b"secret comment"
LATITUDE = (52, 31, 4)


def _segment(marker: int, body: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body


def _exif(orientation: int) -> bytes:
    """An APP1 Exif segment (big-endian TIFF): IFD0 with Orientation and a pointer to
    a GPS IFD holding GPSLatitudeRef `N` and GPSLatitude 52° 31′ 4″."""
    ifd0 = 8
    gps = ifd0 + 2 + 2 * 12 + 4
    latitude = gps + 2 + 2 * 12 + 4
    tiff = b"MM\x00\x2a" + struct.pack(">I", ifd0)
    tiff += struct.pack(">H", 2)
    tiff += struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0)  # Orientation, SHORT
    tiff += struct.pack(">HHII", 0x8825, 4, 1, gps)  # GPSInfo IFD pointer, LONG
    tiff += struct.pack(">I", 0)
    tiff += struct.pack(">H", 2)
    tiff += struct.pack(">HHI4s", 0x0001, 2, 2, b"N\x00\x00\x00")  # GPSLatitudeRef
    tiff += struct.pack(">HHII", 0x0002, 5, 3, latitude)  # GPSLatitude, 3 RATIONALs
    tiff += struct.pack(">I", 0)
    tiff += struct.pack(">6I", LATITUDE[0], 1, LATITUDE[1], 1, LATITUDE[2], 1)
    return _segment(0xE1, b"Exif\x00\x00" + tiff)


def _xmp() -> bytes:
    packet = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf='
        b'"http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description xmlns:dc='
        b'"http://purl.org/dc/elements/1.1/" dc:creator="' + SECRET_NAME + b'"/>'
        b"</rdf:RDF></x:xmpmeta>"
    )
    return _segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + packet)


def _iptc() -> bytes:
    """APP13 with a Photoshop IPTC resource holding a By-line (2:80)."""
    record = b"\x1c\x02\x50" + struct.pack(">H", len(SECRET_NAME)) + SECRET_NAME
    record += b"\x00" * (len(record) % 2)
    resource = b"8BIM" + struct.pack(">H", 0x0404) + b"\x00\x00"
    resource += struct.pack(">I", len(record)) + record
    return _segment(0xED, b"Photoshop 3.0\x00" + resource)


def exif_jpeg(width: int = 400, height: int = 300, orientation: int = 6) -> bytes:
    """A JPEG stored `width`×`height`, top half light and bottom half dark, carrying
    EXIF (with `orientation` and GPS), XMP, IPTC and a comment, spliced after SOI."""
    pixels = halves(width, height, 230, 25, across=False)
    plain: bytes = pixels.jpegsave_buffer(Q=90, keep="none")
    assert plain[:2] == b"\xff\xd8"
    metadata = _exif(orientation) + _xmp() + _iptc() + _segment(0xFE, SECRET_COMMENT)
    return plain[:2] + metadata + plain[2:]


def text() -> bytes:
    return b"Dear diary,\nthis is a text file, whatever its name says.\n"


def svg() -> bytes:
    return (
        b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="400" '
        b'height="300"><rect width="400" height="300" fill="red"/></svg>\n'
    )


def zip_archive() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("photo.jpg", jpeg(64, 64))
    return buffer.getvalue()
