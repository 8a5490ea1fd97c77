"""`tessera demo`: a small, lived-in instance for a newcomer to look around in.

Seven people who follow each other (one of them private, with a request still pending)
post real photos (the sample photos scikit-image ships inside its wheel, some cropped),
with captions, hashtags and mentions, and like and comment on each other's posts.

Everything goes through Tessera's own HTTP API, served in this process (httpx over
ASGI): sign-ups, uploads, posts, follows, likes and comments raise the same events,
fill the same feeds and notifications and move the same counters as for real clients.
Each step first looks at what is there and only adds what is missing, so running the
demo again changes nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import httpx
import pyvips

from tessera.core.config import Settings

__all__ = [
    "DEMO_PASSWORD",
    "PEOPLE",
    "POSTS",
    "DemoError",
    "DemoReport",
    "Person",
    "Photo",
    "photo_bytes",
    "run_demo",
]

DEMO_PASSWORD = "tessera-demo"  # noqa: S105 - printed for everyone, by design
"""Every demo account's password: the point of the demo is to log in as any of them."""

SCOPES = "read write follow"
UNLIMITED = "1000000 per minute"
"""The demo's own app is an operator's tool, not a client on the network: sign-ups and
log-ins by the dozen must not trip the limits meant for strangers."""


class DemoError(Exception):
    """The demo cannot run here; the message is one line fit for the operator."""


@dataclass(frozen=True, slots=True)
class Photo:
    """A scikit-image sample photo, or a crop of one (left, top, width, height in pixels)."""

    sample: str
    alt: str
    """Alt text; unique among the demo's photos, it also tells which posts exist."""
    crop: tuple[int, int, int, int] | None = None


@dataclass(frozen=True, slots=True)
class Person:
    username: str
    display_name: str
    bio: str
    avatar: Photo
    follows: tuple[str, ...]
    locked: bool = False
    approves: tuple[str, ...] = ()
    """For a locked account: whose follow requests it accepts (others stay pending)."""


@dataclass(frozen=True, slots=True)
class Post:
    author: str
    caption: str
    photos: tuple[Photo, ...]
    likes: tuple[str, ...] = ()
    comments: tuple[tuple[str, str], ...] = ()
    """(commenter, text), in order."""


def _face(sample: str, crop: tuple[int, int, int, int]) -> Photo:
    return Photo(sample, f"avatar from {sample}", crop)


ASTRONAUT = "astronaut.png"
CHELSEA = "chelsea.png"
COFFEE = "coffee.png"
ROCKET = "rocket.jpg"
MOTORCYCLE = "motorcycle_left.png"
MOTORCYCLE_RIGHT = "motorcycle_right.png"
HUBBLE = "hubble_deep_field.jpg"
IHC = "ihc.png"
RETINA = "retina.jpg"

PEOPLE: tuple[Person, ...] = (
    Person(
        "mira",
        "Mira Okafor",
        "Space nerd. Launch pads, night skies and the occasional astronaut.",
        _face(ASTRONAUT, (150, 20, 170, 170)),
        follows=("theo", "june", "rafa", "ada", "lena"),
    ),
    Person(
        "theo",
        "Theo Lindqvist",
        "Chelsea's human. Mostly cat, sometimes coffee.",
        _face(CHELSEA, (110, 20, 250, 250)),
        follows=("mira", "june", "ada", "lena"),
    ),
    Person(
        "june",
        "June Park",
        "I roast coffee in the old town. Espresso, always.",
        _face(COFFEE, (180, 30, 260, 260)),
        follows=("mira", "theo", "rafa", "ada"),
    ),
    Person(
        "rafa",
        "Rafael Costa",
        "Garage weekends. Old bikes, new parts.",
        _face(MOTORCYCLE, (260, 180, 220, 220)),
        follows=("june", "mira", "ada"),
    ),
    Person(
        "ada",
        "Ada Novak",
        "Black and white, on film when I can.",
        _face("camera.png", (200, 50, 200, 200)),
        follows=("mira", "theo", "june", "rafa", "lena", "sam"),
    ),
    Person(
        "lena",
        "Lena Ferreira",
        "Pathology lab by day. Pretty slides, never patient data. Private account.",
        _face(IHC, (300, 280, 200, 200)),
        follows=("mira", "ada", "theo"),
        locked=True,
        approves=("mira", "theo", "ada"),
    ),
    Person(
        "sam",
        "Sam Reyes",
        "Mostly here to look at your photos.",
        _face("coins.png", (300, 0, 84, 84)),
        follows=("mira", "theo", "june", "rafa", "ada", "lena"),
    ),
)

# Oldest first: the home feed shows them newest first.
POSTS: tuple[Post, ...] = (
    Post(
        "ada",
        "Old roll, new scan. A friend and his tripod, the morning before the snow. "
        "#blackandwhite #film",
        (
            Photo(
                "camera.png", "A man in a dark coat looks through a camera on a tripod in a field"
            ),
        ),
        likes=("mira", "theo", "sam"),
        comments=(("sam", "The grain on this! 😍"),),
    ),
    Post(
        "theo",
        "Chelsea has opinions about Mondays. #cats",
        (Photo(CHELSEA, "A tabby cat with green eyes stares into the camera"),),
        likes=("mira", "june", "ada", "sam"),
        comments=(("june", "She looks like she runs the place."), ("theo", "@june she does.")),
    ),
    Post(
        "mira",
        "From the archives: Eileen Collins, the first woman to command a Space Shuttle. "
        "#space #portrait",
        (
            Photo(
                ASTRONAUT,
                "An astronaut in an orange flight suit smiles, a flag and a shuttle model "
                "behind her",
            ),
        ),
        likes=("theo", "ada", "rafa", "sam", "lena"),
        comments=(("ada", "Great light on this portrait."),),
    ),
    Post(
        "june",
        "First shot from the new roast: cherry, cocoa, a little smoke. Come by, @theo, "
        "and bring the cat. #coffee #espresso",
        (
            Photo(COFFEE, "An espresso in a red cup on a red saucer, on a wooden table"),
            Photo(COFFEE, "Close-up of the espresso's golden crema", (250, 40, 230, 150)),
        ),
        likes=("theo", "mira", "rafa"),
        comments=(("theo", "Chelsea says yes."), ("rafa", "Saving me a cup on Saturday?")),
    ),
    Post(
        "lena",
        "Today's slide: immunohistochemistry on colon tissue. The brown is the antibody "
        "doing its job. #science #microscopy",
        (
            Photo(IHC, "Tissue under the microscope: brown-stained glands among blue nuclei"),
            Photo(IHC, "Close-up of one brown-stained gland", (300, 290, 200, 200)),
        ),
        likes=("mira", "ada"),
        comments=(("mira", "This looks like a galaxy map."),),
    ),
    Post(
        "mira",
        "Launch pad at blue hour, the night before. Lights on, lightning towers ready. "
        "@rafa this one's for you. #space #launch",
        (
            Photo(ROCKET, "A rocket on its launch pad at dusk between tall lightning towers"),
            Photo(ROCKET, "The rocket standing on the pad, close up", (240, 90, 160, 320)),
        ),
        likes=("rafa", "theo", "june", "ada", "sam"),
        comments=(("rafa", "Goosebumps."), ("sam", "How close could you get?")),
    ),
    Post(
        "ada",
        "Coins from the museum's archive drawer. Silver ages well. #blackandwhite #history",
        (
            Photo("coins.png", "Rows of small ancient coins on a dark background"),
            Photo("coins.png", "Two of the coins, close up", (210, 10, 170, 110)),
        ),
        likes=("sam", "mira"),
    ),
    Post(
        "theo",
        "Chelsea in three moods: suspicious, very suspicious, fine, take the picture. "
        "#cats #caturday",
        (
            Photo(CHELSEA, "The cat's face, ears up", (60, 0, 330, 300)),
            Photo(CHELSEA, "The cat's green eyes, close up", (110, 50, 280, 150)),
            Photo(CHELSEA, "The cat's pink nose and whiskers", (150, 100, 220, 180)),
        ),
        likes=("june", "mira", "ada", "sam", "rafa"),
        comments=(("sam", "Very suspicious is my favourite."),),
    ),
    Post(
        "sam",
        "My first post! Tried a long exposure of the kitchen clock. Pretty sure I moved. "
        "Tips, @ada? #photography",
        (Photo("clock_motion.png", "A blurry wall clock, smeared sideways by motion"),),
        likes=("ada", "theo"),
        comments=(
            ("ada", "Brace your elbows on the table and breathe out before you press."),
            ("sam", "Trying that tonight, thanks!"),
        ),
    ),
    Post(
        "june",
        "Saturday, 7 am, before the doors open. #coffee",
        (
            Photo(
                COFFEE,
                "The espresso cup and its silver spoon, from above the saucer",
                (160, 0, 360, 360),
            ),
        ),
        likes=("theo", "rafa"),
    ),
    Post(
        "rafa",
        "New tyre day. #motorcycle",
        (Photo(MOTORCYCLE_RIGHT, "A motorcycle's front wheel and fork", (20, 250, 250, 250)),),
        likes=("june",),
        comments=(("mira", "Ready for a road trip?"),),
    ),
    Post(
        "ada",
        "Textures from Sunday's walk: brick, gravel, grass, and the moon on the way home. "
        "#blackandwhite #textures",
        (
            Photo("brick.png", "A brick wall, in black and white"),
            Photo("gravel.png", "Gravel, in black and white"),
            Photo("grass.png", "Blades of grass, in black and white"),
            Photo("moon.png", "The surface of the moon, craters in grey"),
        ),
        likes=("mira", "june", "theo", "rafa"),
        comments=(("rafa", "The gravel one could be a galaxy, @mira."),),
    ),
    Post(
        "mira",
        "Small shuttle, big dreams. #space",
        (
            Photo(
                ASTRONAUT,
                "A white model of a Space Shuttle standing upright",
                (380, 0, 132, 290),
            ),
        ),
        likes=("june", "sam"),
    ),
    Post(
        "lena",
        "One cell, alone under the microscope. Relatable. #microscopy",
        (Photo("cell.png", "A single round cell glowing on a grey background"),),
        likes=("ada", "theo"),
        comments=(("theo", "Chelsea relates."),),
    ),
    Post(
        "theo",
        "The eyes. That's the post. #cats",
        (Photo(CHELSEA, "The cat's left eye, very close", (100, 40, 190, 150)),),
        likes=("june", "mira", "sam", "lena", "ada", "rafa"),
        comments=(("june", "Stop, she's perfect."),),
    ),
    Post(
        "june",
        "Crema check before opening. @mira your usual is ready. #coffee #espresso",
        (
            Photo(COFFEE, "Looking down into the espresso: thick crema", (220, 20, 300, 200)),
            Photo(COFFEE, "The red saucer and the silver spoon", (300, 200, 300, 200)),
        ),
        likes=("mira", "theo", "ada", "sam"),
        comments=(("mira", "On my way!"),),
    ),
    Post(
        "lena",
        "A healthy retina from our teaching set. The bright disc is where the optic nerve "
        "leaves the eye. #science",
        (Photo(RETINA, "An orange retina with red blood vessels around a bright optic disc"),),
        likes=("mira", "theo", "ada"),
    ),
    Post(
        "mira",
        "Every dot is a galaxy. Hubble's deep field never stops being unreal. #space #astronomy",
        (
            Photo(HUBBLE, "Thousands of tiny coloured galaxies on black"),
            Photo(HUBBLE, "A handful of the galaxies, enlarged", (300, 300, 250, 250)),
        ),
        likes=("theo", "lena", "sam", "ada"),
        comments=(("lena", "Same colours as my slides, honestly."),),
    ),
    Post(
        "rafa",
        "Three months of weekends and she finally runs. #motorcycle #garage",
        (
            Photo(MOTORCYCLE, "A red motorcycle parked in a garage full of shelves"),
            Photo(
                MOTORCYCLE, "The motorcycle's engine and exhaust, close up", (330, 260, 260, 180)
            ),
            Photo(MOTORCYCLE, "The red fuel tank and the black seat", (230, 170, 320, 150)),
        ),
        likes=("june", "ada", "sam"),
        comments=(("june", "She's beautiful!"), ("ada", "What year is she?")),
    ),
)


@dataclass
class DemoReport:
    """What one run found and did."""

    public_url: str
    created_accounts: int = 0
    created_posts: int = 0
    follows: int = 0
    likes: int = 0
    comments: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.created_accounts or self.created_posts or self.follows)

    def summary(self) -> str:
        if self.changed:
            head = (
                f"tessera: demo ready: {self.created_accounts} people, {self.created_posts} "
                f"posts, {self.follows} follows, {self.likes} likes, {self.comments} comments"
            )
        else:
            head = "tessera: the demo is already there; nothing to add"
        width = max(len(person.username) for person in PEOPLE)
        rows = [
            f"  {person.username:<{width}}  {DEMO_PASSWORD}   {person.display_name}"
            + ("  (private account)" if person.locked else "")
            for person in PEOPLE
        ]
        return "\n".join(
            [
                head,
                f"Log in at {self.public_url}/login as any of them (username, password):",
                *rows,
            ]
        )


def photo_bytes(photo: Photo) -> bytes:
    """The photo as a JPEG, read from scikit-image's sample data (no download)."""
    try:
        folder = resources.files("skimage.data")
    except ModuleNotFoundError:
        raise DemoError(
            "the demo's photos come from scikit-image: pip install 'tessera[demo]'"
        ) from None
    image = pyvips.Image.new_from_buffer((folder / photo.sample).read_bytes(), "")
    if photo.crop is not None:
        image = image.crop(*photo.crop)
    data: bytes = image.write_to_buffer(".jpg", Q=90)
    return data


async def run_demo(settings: Settings) -> DemoReport:
    """Fill the configured instance (already migrated) with the demo, adding only what is
    missing; the events it raises have all been handled when this returns."""
    from tessera.api import create_app

    unlimited = dict.fromkeys(("ratelimit_login", "ratelimit_signup", "ratelimit_api"), UNLIMITED)
    app = create_app(settings.model_copy(update=unlimited))
    base = settings.public_url or "http://127.0.0.1:8000"
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url=base, timeout=60) as http,
    ):
        api = _Api(http)
        return await _Demo(api, DemoReport(base)).run()


@dataclass
class _Api:
    """Tessera's HTTP API, failing loudly: the demo never expects a refusal."""

    http: httpx.AsyncClient

    async def call(
        self,
        method: str,
        path: str,
        token: str | None = None,
        *,
        ok: Iterable[int] = (200,),
        **kwargs: Any,
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = await self.http.request(method, path, headers=headers, **kwargs)
        if response.status_code not in set(ok):
            try:
                error = response.json().get("error", response.text)
            except ValueError:
                error = response.text
            raise DemoError(f"{method} {path} answered {response.status_code}: {error}")
        return response

    async def json(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> Any:
        return (await self.call(method, path, token, **kwargs)).json()


@dataclass
class _Demo:
    api: _Api
    report: DemoReport
    app: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)

    async def run(self) -> DemoReport:
        self.app = await self.api.json(
            "POST",
            "/api/v1/apps",
            data={
                "client_name": "tessera demo",
                "redirect_uris": "urn:ietf:wg:oauth:2.0:oob",
                "scopes": SCOPES,
            },
        )
        try:
            app_token = await self._token({"grant_type": "client_credentials"})
            for person in PEOPLE:
                await self._account(person, app_token)
            for person in PEOPLE:
                await self._follows(person)
            for person in PEOPLE:
                await self._approve(person)
            await self._posts()
        finally:
            await asyncio.gather(*(self._revoke(token) for token in self.tokens.values()))
        return self.report

    async def _token(self, grant: Mapping[str, str]) -> str:
        body = {
            "client_id": self.app["client_id"],
            "client_secret": self.app["client_secret"],
            "scope": SCOPES,
            **grant,
        }
        response = await self.api.call("POST", "/oauth/token", data=body, ok=(200, 400))
        if response.status_code != 200:
            raise DemoError(response.json().get("error_description", response.text))
        token: str = response.json()["access_token"]
        return token

    async def _revoke(self, token: str) -> None:
        body = {"client_id": self.app["client_id"], "client_secret": self.app["client_secret"]}
        await self.api.call("POST", "/oauth/revoke", data=body | {"token": token})

    async def _account(self, person: Person, app_token: str) -> None:
        """Sign the person up and set their profile, or log in to the existing account."""
        name = person.username
        found = await self.api.call(
            "GET", "/api/v1/accounts/lookup", params={"acct": name}, ok=(200, 404)
        )
        if found.status_code == 200:
            try:
                self.tokens[name] = await self._token(
                    {"grant_type": "password", "username": name, "password": DEMO_PASSWORD}
                )
            except DemoError:
                raise DemoError(
                    f"@{name} exists but is not the demo's (its password differs); "
                    "the demo needs an instance without the usernames "
                    + ", ".join(p.username for p in PEOPLE)
                ) from None
            self.ids[name] = found.json()["id"]
            return
        signed_up = await self.api.json(
            "POST",
            "/api/v1/accounts",
            app_token,
            data={
                "username": name,
                "email": f"{name}@demo.invalid",
                "password": DEMO_PASSWORD,
                "agreement": "1",
                "locale": "en",
            },
        )
        token = self.tokens[name] = signed_up["access_token"]
        profile = await self.api.json(
            "PATCH",
            "/api/v1/accounts/update_credentials",
            token,
            data={
                "display_name": person.display_name,
                "note": person.bio,
                "locked": "1" if person.locked else "0",
            },
            files={"avatar": ("avatar.jpg", photo_bytes(person.avatar), "image/jpeg")},
        )
        self.ids[name] = profile["id"]
        self.report.created_accounts += 1

    async def _follows(self, person: Person) -> None:
        token = self.tokens[person.username]
        targets = [self.ids[name] for name in person.follows]
        relations = await self.api.json(
            "GET", "/api/v1/accounts/relationships", token, params={"id[]": targets}
        )
        for relation in relations:
            if not (relation["following"] or relation["requested"]):
                await self.api.call("POST", f"/api/v1/accounts/{relation['id']}/follow", token)
                self.report.follows += 1

    async def _approve(self, person: Person) -> None:
        if not person.approves:
            return
        token = self.tokens[person.username]
        pending = await self.api.json("GET", "/api/v1/follow_requests", token)
        for account in pending:
            if account["username"] in person.approves:
                await self.api.call(
                    "POST", f"/api/v1/follow_requests/{account['id']}/authorize", token
                )

    async def _posts(self) -> None:
        existing: set[str] = set()
        for person in PEOPLE:
            statuses = await self.api.json(
                "GET",
                f"/api/v1/accounts/{self.ids[person.username]}/statuses",
                self.tokens[person.username],
                params={"limit": 40, "only_media": "true"},
            )
            existing.update(m["description"] for s in statuses for m in s["media_attachments"])
        for post in POSTS:
            if post.photos[0].alt not in existing:
                await self._post(post)

    async def _post(self, post: Post) -> None:
        token = self.tokens[post.author]
        uploads = [
            self.api.json(
                "POST",
                "/api/v2/media",
                token,
                data={"description": photo.alt},
                files={"file": ("photo.jpg", photo_bytes(photo), "image/jpeg")},
            )
            for photo in post.photos
        ]
        media_ids = [uploaded["id"] for uploaded in await asyncio.gather(*uploads)]
        created = await self.api.json(
            "POST",
            "/api/v1/statuses",
            token,
            data={"status": post.caption, "media_ids[]": media_ids},
        )
        self.report.created_posts += 1
        for liker in post.likes:
            await self.api.call(
                "POST", f"/api/v1/statuses/{created['id']}/favourite", self.tokens[liker]
            )
            self.report.likes += 1
        for commenter, text in post.comments:
            await self.api.call(
                "POST",
                "/api/v1/statuses",
                self.tokens[commenter],
                data={"status": text, "in_reply_to_id": created["id"]},
            )
            self.report.comments += 1
