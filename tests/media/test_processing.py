"""What the pipeline makes of an upload: sizes, formats, orientation, no metadata, blurhash."""

from __future__ import annotations

import re
from typing import Any

import blurhash
import httpx
import pytest
import pyvips

from tests.conftest import FetchMedia, User
from tests.media import images
from tests.media.helpers import (
    RENDITIONS,
    decoded,
    loader,
    media_row,
    metadata_fields,
    upload,
    uploaded,
)

BASE83 = re.compile(r"^[0-9A-Za-z#$%*+,\-.:;=?@\[\]^_{|}~]+$")


async def fetch_all(fetch_media: FetchMedia, body: dict[str, Any]) -> dict[str, bytes]:
    """Every served file of an attachment, by `<rendition>.<jpeg|webp>`."""
    served = {}
    for name, rendition in body["tessera"].items():
        for kind in ("jpeg", "webp"):
            response = await fetch_media(rendition[kind])
            assert response.status_code == 200, rendition[kind]
            served[f"{name}.{kind}"] = response.content
    return served


def size(data: bytes) -> tuple[int, int]:
    image = decoded(data)
    return image.width, image.height


# -- sizes and formats ----------------------------------------------------------------------------


async def test_a_large_photo_gets_every_size(
    client: httpx.AsyncClient, user: User, fetch_media: FetchMedia
) -> None:
    body = await uploaded(client, user, images.jpeg(2000, 1500))
    assert set(body["tessera"]) == set(RENDITIONS)
    served = await fetch_all(fetch_media, body)

    expected = {"original": (1080, 810), "small": (640, 480), "tiny": (320, 240)}
    expected["thumbnail"] = (150, 150)
    for name, dimensions in expected.items():
        assert size(served[f"{name}.jpeg"]) == dimensions, name
        assert size(served[f"{name}.webp"]) == dimensions, name
        rendition = body["tessera"][name]
        assert (rendition["width"], rendition["height"]) == dimensions

    assert body["meta"]["original"] == {
        "width": 1080,
        "height": 810,
        "size": "1080x810",
        "aspect": pytest.approx(1080 / 810, abs=1e-5),
    }
    assert body["meta"]["small"] == {
        "width": 640,
        "height": 480,
        "size": "640x480",
        "aspect": pytest.approx(640 / 480, abs=1e-5),
    }


async def test_url_and_preview_are_progressive_jpegs_with_webp_beside_them(
    client: httpx.AsyncClient, user: User, fetch_media: FetchMedia
) -> None:
    body = await uploaded(client, user, images.jpeg(1200, 800))
    assert body["url"] == body["tessera"]["original"]["jpeg"]
    assert body["preview_url"] == body["tessera"]["small"]["jpeg"]
    served = await fetch_all(fetch_media, body)
    for name in RENDITIONS:
        jpeg, webp = served[f"{name}.jpeg"], served[f"{name}.webp"]
        assert jpeg.startswith(b"\xff\xd8\xff")
        assert loader(jpeg) == "jpegload_buffer"
        assert decoded(jpeg).get("interlaced") == 1, f"{name} is not progressive"
        assert body["tessera"][name]["jpeg"].endswith(".jpg")
        assert webp[:4] == b"RIFF"
        assert webp[8:12] == b"WEBP"
        assert loader(webp) == "webpload_buffer"
        assert body["tessera"][name]["webp"].endswith(".webp")
    url = await fetch_media(body["url"])
    assert url.headers["content-type"] == "image/jpeg"
    webp_response = await fetch_media(body["tessera"]["original"]["webp"])
    assert webp_response.headers["content-type"] == "image/webp"


async def test_a_photo_narrower_than_1080_keeps_its_width(
    client: httpx.AsyncClient, user: User, fetch_media: FetchMedia
) -> None:
    body = await uploaded(client, user, images.jpeg(500, 400))
    served = await fetch_all(fetch_media, body)
    assert size(served["original.jpeg"]) == (500, 400)
    assert size(served["small.jpeg"]) == (500, 400)
    assert size(served["tiny.jpeg"]) == (320, 256)
    assert size(served["thumbnail.jpeg"]) == (150, 150)
    assert body["meta"]["original"]["size"] == "500x400"
    assert body["meta"]["small"]["size"] == "500x400"


async def test_a_tall_photo_is_1080_wide(
    client: httpx.AsyncClient, user: User, fetch_media: FetchMedia
) -> None:
    body = await uploaded(client, user, images.jpeg(1350, 2400))
    assert body["meta"]["original"]["size"] == "1080x1920"
    assert body["meta"]["small"]["size"] == "640x1138"
    served = await fetch_all(fetch_media, body)
    assert size(served["thumbnail.jpeg"]) == (150, 150)


async def test_the_blurhash_describes_the_photo(client: httpx.AsyncClient, user: User) -> None:
    body = await uploaded(client, user, images.jpeg())
    hash_ = body["blurhash"]
    assert isinstance(hash_, str)
    assert BASE83.match(hash_)
    assert blurhash.components(hash_) == (4, 3)
    assert len(hash_) == 4 + 2 * 4 * 3
    pixels = blurhash.decode(hash_, 8, 6)
    assert len(pixels) == 6
    assert len(pixels[0]) == 8


# -- metadata and orientation ---------------------------------------------------------------------


async def test_served_files_carry_no_metadata_and_stand_upright(
    client: httpx.AsyncClient, user: User, fetch_media: FetchMedia
) -> None:
    photo = images.exif_jpeg(400, 300, orientation=6)
    original = decoded(photo)
    # The sample really carries what we strip.
    assert original.get("orientation") == 6
    assert {"exif-data", "xmp-data", "iptc-data"} <= set(original.get_fields())
    assert "exif-ifd3-GPSLatitude" in original.get_fields()
    assert images.SECRET_NAME in photo

    body = await uploaded(client, user, photo)
    served = await fetch_all(fetch_media, body)

    for name, data in served.items():
        assert metadata_fields(data) == [], name
        assert b"Exif" not in data, name
        assert b"http://ns.adobe.com/xap" not in data, name
        assert b"Photoshop 3.0" not in data, name
        assert images.SECRET_NAME not in data, name
        assert images.SECRET_COMMENT not in data, name

    # Stored 400×300 with orientation 6 (turn 90° clockwise to view): upright it is
    # 300×400, and the stored top (light) becomes the right-hand side.
    assert body["meta"]["original"]["size"] == "300x400"
    upright = decoded(served["original.jpeg"])
    assert (upright.width, upright.height) == (300, 400)
    left = upright.crop(0, 0, 140, 400).avg()
    right = upright.crop(160, 0, 140, 400).avg()
    assert left < 60
    assert right > 200
    assert size(served["small.webp"]) == (300, 400)


@pytest.mark.parametrize("orientation", [3, 8])
async def test_other_orientations_are_applied_too(
    client: httpx.AsyncClient, user: User, fetch_media: FetchMedia, orientation: int
) -> None:
    body = await uploaded(client, user, images.exif_jpeg(400, 300, orientation=orientation))
    upright = decoded((await fetch_media(body["url"])).content)
    if orientation == 3:  # 180°: the light top goes to the bottom
        assert (upright.width, upright.height) == (400, 300)
        assert upright.crop(0, 0, 400, 140).avg() < 60
    else:  # 8 = turn 90° anticlockwise: the light top goes to the left
        assert (upright.width, upright.height) == (300, 400)
        assert upright.crop(0, 0, 140, 400).avg() > 200


async def test_the_thumbnail_is_centred_on_the_focus_point(
    client: httpx.AsyncClient, user: User, fetch_media: FetchMedia
) -> None:
    scene = images.halves(900, 300, 20, 235, across=True).jpegsave_buffer(Q=90)

    async def thumbnail(focus: str) -> float:
        body = await uploaded(client, user, scene, focus=focus)
        data = (await fetch_media(body["tessera"]["thumbnail"]["jpeg"])).content
        assert size(data) == (150, 150)
        brightness: float = decoded(data).avg()
        return brightness

    assert await thumbnail("-1,0") < 40  # the dark left end
    assert await thumbnail("1,0") > 215  # the light right end
    assert 100 < await thumbnail("0,0") < 160  # the middle: half of each


# -- formats ---------------------------------------------------------------------------------------


async def test_a_png_with_alpha_is_flattened_onto_white(
    client: httpx.AsyncClient, user: User, fetch_media: FetchMedia
) -> None:
    body = await uploaded(
        client, user, images.png_with_alpha(), filename="a.png", content_type="image/png"
    )
    served = await fetch_all(fetch_media, body)
    for name in ("original.jpeg", "original.webp", "thumbnail.jpeg"):
        image = decoded(served[name])
        assert image.bands == 3, name
        assert not image.hasalpha(), name
        assert image.avg() > 250, name  # transparent became white, not black
    assert (await media_row(client, body["id"])).mime_type == "image/png"


async def test_only_the_first_frame_of_a_gif_is_kept(
    client: httpx.AsyncClient, user: User, fetch_media: FetchMedia
) -> None:
    animation = images.gif_two_frames(300, 200)
    assert decoded(animation).get("n-pages") == 2
    body = await uploaded(client, user, animation, filename="a.gif", content_type="image/gif")
    assert body["type"] == "image"
    assert body["meta"]["original"]["size"] == "300x200"
    image = decoded((await fetch_media(body["url"])).content)
    assert (image.width, image.height) == (300, 200)
    assert image.avg() < 60, "the dark first frame, alone"
    assert (await media_row(client, body["id"])).mime_type == "image/gif"


async def test_a_webp_is_accepted(client: httpx.AsyncClient, user: User) -> None:
    body = await uploaded(
        client, user, images.webp(800, 600), filename="a.webp", content_type="image/webp"
    )
    assert body["meta"]["original"]["size"] == "800x600"
    assert (await media_row(client, body["id"])).mime_type == "image/webp"


def _can_save(compression: str) -> bool:
    try:
        pyvips.Image.black(16, 16).heifsave_buffer(compression=compression)
    except pyvips.Error:
        return False
    return True


@pytest.mark.skipif(not _can_save("av1"), reason="this libvips has no AV1 encoder to make an AVIF")
async def test_an_avif_is_accepted(
    client: httpx.AsyncClient, user: User, fetch_media: FetchMedia
) -> None:
    avif = images.avif(400, 300)
    assert avif[4:12] == b"ftypavif"
    body = await uploaded(client, user, avif, filename="a.avif", content_type="image/avif")
    assert body["meta"]["original"]["size"] == "400x300"
    assert loader((await fetch_media(body["url"])).content) == "jpegload_buffer"
    assert (await media_row(client, body["id"])).mime_type == "image/avif"


@pytest.mark.skipif(not _can_save("av1"), reason="this libvips has no AV1 encoder to make an AVIF")
async def test_an_avif_branded_mif1_is_still_an_avif(client: httpx.AsyncClient, user: User) -> None:
    """Some encoders put the generic HEIF brand first and `avif` among the compatible ones."""
    avif = images.avif(400, 300)
    relabelled = avif[:8] + b"mif1" + avif[12:]
    assert b"avif" in relabelled[16:32]
    body = await uploaded(client, user, relabelled, filename="a.heic", content_type="image/heic")
    assert (await media_row(client, body["id"])).mime_type == "image/avif"


@pytest.mark.skipif(
    not _can_save("hevc"),
    reason="this libvips (the pyvips-binary wheel) has no HEVC encoder to make a HEIC sample",
)
async def test_a_heic_is_accepted(client: httpx.AsyncClient, user: User) -> None:
    heic: bytes = images.picture(400, 300).heifsave_buffer(compression="hevc")
    body = await uploaded(client, user, heic, filename="a.heic", content_type="image/heic")
    assert body["meta"]["original"]["size"] == "400x300"
    assert (await media_row(client, body["id"])).mime_type == "image/heic"


async def test_the_type_comes_from_the_bytes_not_the_name(
    client: httpx.AsyncClient, user: User
) -> None:
    png: bytes = images.picture(300, 200).pngsave_buffer()
    response = await upload(
        client, user, png, filename="holiday.jpg", content_type="application/octet-stream"
    )
    assert response.status_code == 200, response.text
    assert (await media_row(client, response.json()["id"])).mime_type == "image/png"
