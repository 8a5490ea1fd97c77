"""Which actions notify whom, and how undoing them takes the notification back."""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from tessera.core.runtime import Runtime
from tessera.notifications import Created, on_created
from tests.conftest import MakeUser
from tests.feed.helpers import delete_status, follow, unfollow
from tests.notifications.helpers import (
    answer_request,
    causes,
    like,
    notifications,
    post,
    redeliver,
    reply,
    unlike,
)


async def test_a_like_notifies_the_author_until_it_is_taken_back(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    author = await make_user("liked")
    fan = await make_user("fan")
    status_id = await post(client, author, "Sunset")

    await like(client, fan, status_id)

    [notification] = await notifications(client, author)
    assert causes([notification]) == [("favourite", fan.id, status_id)]
    assert notification["account"]["acct"] == fan.username
    assert notification["status"]["favourited"] is False  # the viewer is the author
    assert notification["group_key"] == f"ungrouped-{notification['id']}"
    assert notification["created_at"].endswith("Z")
    assert await notifications(client, fan) == []

    await unlike(client, fan, status_id)
    assert await notifications(client, author) == []


async def test_nobody_is_notified_of_their_own_actions(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    author = await make_user("self")
    status_id = await post(client, author, f"Me, @{author.username}")
    await like(client, author, status_id)
    await reply(client, author, status_id, "Talking to myself")

    assert await notifications(client, author) == []


async def test_a_comment_notifies_the_post_author_until_it_is_deleted(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    author = await make_user("commented")
    fan = await make_user("commenter")
    status_id = await post(client, author, "Breakfast")

    comment_id = await reply(client, fan, status_id, "Looks great")

    [notification] = await notifications(client, author)
    assert causes([notification]) == [("mention", fan.id, comment_id)]
    assert notification["status"]["in_reply_to_id"] == status_id

    await delete_status(client, fan, comment_id)
    assert await notifications(client, author) == []


async def test_mentions_in_captions_and_comments_notify_the_named(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    author = await make_user("namer")
    friend = await make_user("named")
    other = await make_user("named")
    status_id = await post(client, author, f"With @{friend.username}")
    comment_id = await reply(client, friend, status_id, f"And @{other.username} too")

    assert causes(await notifications(client, friend)) == [("mention", author.id, status_id)]
    assert causes(await notifications(client, other)) == [("mention", friend.id, comment_id)]
    # The post's author hears of the comment once, though it answers and names no one else.
    assert causes(await notifications(client, author)) == [("mention", friend.id, comment_id)]

    await delete_status(client, author, status_id)
    assert await notifications(client, friend) == []


async def test_a_private_post_notifies_only_those_who_may_read_it(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    author = await make_user("private")
    follower = await make_user("reader")
    stranger = await make_user("outsider")
    await follow(client, follower, author)

    status_id = await post(
        client,
        author,
        f"Just us, @{follower.username} and @{stranger.username}",
        visibility="private",
    )

    assert causes(await notifications(client, follower)) == [("mention", author.id, status_id)]
    assert await notifications(client, stranger) == []


async def test_a_follow_notifies_until_the_unfollow(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    fan = await make_user("follower")
    idol = await make_user("followed")

    await follow(client, fan, idol)
    assert causes(await notifications(client, idol)) == [("follow", fan.id, None)]
    assert await notifications(client, fan) == []

    await unfollow(client, fan, idol)
    assert await notifications(client, idol) == []


async def test_a_follow_request_notifies_until_it_is_answered_or_withdrawn(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    guarded = await make_user("locked", locked=True)
    accepted = await make_user("asker")
    rejected = await make_user("asker")
    withdrawn = await make_user("asker")
    for asker in (accepted, rejected, withdrawn):
        await follow(client, asker, guarded)
    assert sorted(causes(await notifications(client, guarded))) == sorted(
        ("follow_request", asker.id, None) for asker in (accepted, rejected, withdrawn)
    )

    await answer_request(client, guarded, accepted, "authorize")
    await answer_request(client, guarded, rejected, "reject")
    await unfollow(client, withdrawn, guarded)

    # Authorizing is the target's own doing: no `follow` notification follows it.
    assert await notifications(client, guarded) == []


async def test_a_redelivered_event_notifies_once(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    author = await make_user("twice")
    fan = await make_user("twice")
    status_id = await post(client, author)
    await like(client, fan, status_id)
    await follow(client, fan, author)

    liked = await redeliver(client, "favourite.created", post_id=int(status_id))
    followed = await redeliver(
        client, "account.followed", follower_id=int(fan.id), target_id=int(author.id)
    )

    assert (liked, followed) == (1, 1)
    assert sorted(causes(await notifications(client, author))) == [
        ("favourite", fan.id, status_id),
        ("follow", fan.id, None),
    ]


async def test_a_late_redelivery_does_not_bring_back_what_was_undone(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    author = await make_user("late")
    fan = await make_user("late")
    status_id = await post(client, author)
    await like(client, fan, status_id)
    await unlike(client, fan, status_id)
    await follow(client, fan, author)
    await unfollow(client, fan, author)

    await redeliver(client, "favourite.created", post_id=int(status_id))
    await redeliver(client, "account.followed", follower_id=int(fan.id), target_id=int(author.id))

    assert await notifications(client, author) == []


async def test_hooks_hear_of_each_new_notification_once(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    author = await make_user("hooked")
    fan = await make_user("hooked")
    heard: list[Created] = []

    async def hook(runtime: Runtime, created: Sequence[Created]) -> None:
        heard.extend(n for n in created if n.account_id == int(author.id))

    remove = on_created(hook)
    try:
        status_id = await post(client, author)
        await like(client, fan, status_id)
        await redeliver(client, "favourite.created", post_id=int(status_id))
    finally:
        remove()

    [notification] = await notifications(client, author)
    assert [(n.id, n.type, n.from_account_id, n.status_id) for n in heard] == [
        (int(notification["id"]), "favourite", int(fan.id), int(status_id))
    ]
