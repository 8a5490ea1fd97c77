"""Random follows, unfollows, posts and deletions against a brute-force model of the feeds."""

from __future__ import annotations

import random

import httpx
import pytest

from tests.conftest import MakeUser, User
from tests.feed.helpers import delete_status, follow, home, settle, unfollow
from tests.posts.helpers import publish

USERS = 4
OPERATIONS = 60
VISIBILITIES = ("public", "unlisted", "private")


@pytest.mark.parametrize("seed", [7, 2026])
async def test_home_feeds_match_a_model(
    feed_client: httpx.AsyncClient, make_user: MakeUser, seed: int
) -> None:
    client = feed_client
    rng = random.Random(seed)
    users: list[User] = [await make_user(f"model{n}") for n in range(USERS)]
    follows: set[tuple[int, int]] = set()
    posts: dict[int, tuple[int, str]] = {}  # post id -> (author index, id as sent)

    def expected(reader: int) -> list[str]:
        authors = {reader} | {b for a, b in follows if a == reader}
        mine = [pid for pid, (author, _) in posts.items() if author in authors]
        return [posts[pid][1] for pid in sorted(mine, reverse=True)]

    async def check() -> None:
        await settle(client)
        for n, user in enumerate(users):
            assert await home(client, user) == expected(n), f"user {n}, seed {seed}"

    for step in range(OPERATIONS):
        kind = rng.choice(["follow", "follow", "unfollow", "post", "post", "delete"])
        a, b = rng.sample(range(USERS), 2)
        if kind == "follow":
            await follow(client, users[a], users[b])
            follows.add((a, b))
        elif kind == "unfollow":
            await unfollow(client, users[a], users[b])
            follows.discard((a, b))
        elif kind == "post":
            status = await publish(client, users[a], visibility=rng.choice(VISIBILITIES))
            posts[int(status["id"])] = (a, status["id"])
        elif posts:
            victim = rng.choice(sorted(posts))
            author, sent = posts.pop(victim)
            await delete_status(client, users[author], sent)
        if step % 15 == 14:
            await check()
    await check()
