"""The accounts service's rules: sign-up, log-in, profiles and the follow graph."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Literal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tessera.accounts import passwords, repository
from tessera.accounts.models import (
    DISPLAY_NAME_MAX,
    EMAIL_MAX,
    NOTE_MAX,
    USERNAME_MAX,
    Account,
    Follow,
    FollowRequest,
)
from tessera.core.config import Settings
from tessera.core.errors import Forbidden, NotFound, ValidationFailed
from tessera.core.ids import new_id
from tessera.core.outbox import emit
from tessera.core.pagination import Page
from tessera.core.ratelimit import RateLimiter
from tessera.core.replica import written_for

USERNAME_RE = re.compile(r"^[A-Za-z0-9_]+$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
RESERVED_USERNAMES = frozenset(
    {
        "admin",
        "administrator",
        "root",
        "support",
        "help",
        "settings",
        "api",
        "oauth",
        "about",
        "explore",
        "login",
        "logout",
        "signup",
        "tessera",
        "www",
        "media",
        "static",
    }
)
PRIVACIES = ("public", "unlisted", "private")

FieldErrors = dict[str, list[tuple[str, str]]]


def _check_username(username: str, errors: FieldErrors) -> None:
    if not username:
        errors.setdefault("username", []).append(("ERR_BLANK", "can't be blank"))
    elif len(username) > USERNAME_MAX:
        errors.setdefault("username", []).append(
            ("ERR_TOO_LONG", f"is too long (maximum is {USERNAME_MAX} characters)")
        )
    elif not USERNAME_RE.match(username):
        errors.setdefault("username", []).append(
            ("ERR_INVALID", "must contain only letters, numbers and underscores")
        )
    elif username.lower() in RESERVED_USERNAMES:
        errors.setdefault("username", []).append(("ERR_RESERVED", "is reserved"))


def _check_email(email: str, errors: FieldErrors) -> None:
    if not email:
        errors.setdefault("email", []).append(("ERR_BLANK", "can't be blank"))
    elif len(email) > EMAIL_MAX or not EMAIL_RE.match(email):
        errors.setdefault("email", []).append(("ERR_INVALID", "is invalid"))


def _check_password(password: str, username: str, errors: FieldErrors) -> None:
    if len(password) < passwords.MIN_LENGTH:
        errors.setdefault("password", []).append(
            ("ERR_TOO_SHORT", f"is too short (minimum is {passwords.MIN_LENGTH} characters)")
        )
    elif len(password) > passwords.MAX_LENGTH:
        errors.setdefault("password", []).append(
            ("ERR_TOO_LONG", f"is too long (maximum is {passwords.MAX_LENGTH} characters)")
        )
    elif passwords.is_common(password) or password.lower() == username.lower():
        errors.setdefault("password", []).append(
            ("ERR_INVALID", "is too common; choose one that is harder to guess")
        )


async def register(
    session: AsyncSession, *, username: str, email: str, password: str, agreement: bool
) -> Account:
    """Create an account, or raise 422 naming every field that is wrong."""
    email = email.strip().lower()
    errors: FieldErrors = {}
    _check_username(username, errors)
    _check_email(email, errors)
    _check_password(password, username, errors)
    if not agreement:
        errors.setdefault("agreement", []).append(("ERR_ACCEPTED", "must be accepted"))
    if "username" not in errors and await repository.account_by_username(session, username):
        errors["username"] = [("ERR_TAKEN", "is already taken")]
    if "email" not in errors and await repository.email_taken(session, email):
        errors["email"] = [("ERR_TAKEN", "is already taken")]
    if errors:
        raise ValidationFailed(errors)
    account = Account(
        id=new_id(),
        username=username,
        username_key=username.lower(),
        email=email,
        password_hash=await passwords.hash_password(password),
    )
    try:
        async with session.begin_nested():
            session.add(account)
            await session.flush()
    except IntegrityError:
        # Someone took the name or address between our check and our insert; the
        # winner has committed by now, so asking again names the right field.
        if await repository.email_taken(session, email):
            errors["email"] = [("ERR_TAKEN", "is already taken")]
        if not errors or await repository.account_by_username(session, username):
            errors["username"] = [("ERR_TAKEN", "is already taken")]
        raise ValidationFailed(errors) from None
    written_for(session, account.id)  # so that its first reads, with its new token, see it
    return account


async def check_login(
    session: AsyncSession, login: str, password: str, limit: Callable[[str], Awaitable[object]]
) -> Account | None:
    """The account whose username or e-mail and password match; same cost either way.

    `limit(key)` is awaited before the password is checked, with one key per account
    (so its username and its e-mail share one budget), or per typed name if none.
    """
    account = await repository.account_by_login(session, login)
    await limit(f"account:{account.id}" if account else f"login:{login.strip().lower()}")
    if account is None:
        await passwords.burn_time(password)
        return None
    if not await passwords.verify_password(account.password_hash, password):
        return None
    return account


async def checked_login(
    session: AsyncSession, limiter: RateLimiter, client_address: str, login: str, password: str
) -> Account | None:
    """`check_login` within the log-in budgets of the client address and of the account
    (429 beyond either): every way of logging in (API, web) goes through here."""
    await limiter.enforce("login", "ip:" + client_address)
    return await check_login(session, login, password, partial(limiter.enforce, "login"))


async def checked_register(
    session: AsyncSession,
    settings: Settings,
    limiter: RateLimiter,
    client_address: str,
    *,
    username: str,
    email: str,
    password: str,
    agreement: bool,
) -> Account:
    """`register` when registrations are open (403 otherwise), within the sign-up budget
    of the client address (429 beyond it): every way of signing up goes through here."""
    if not settings.registrations_open:
        raise Forbidden("Registrations are closed on this server")
    await limiter.enforce("signup", client_address)
    return await register(
        session, username=username, email=email, password=password, agreement=agreement
    )


async def get_account(session: AsyncSession, account_id: int) -> Account:
    account = await repository.account_by_id(session, account_id)
    if account is None:
        raise NotFound()
    return account


async def lookup(session: AsyncSession, acct: str, local_domain: str) -> Account:
    """The local account named by `user`, `@user` or `user@<our domain>`."""
    username, _, domain = acct.strip().lstrip("@").partition("@")
    if domain and domain.lower() != local_domain.lower():
        raise NotFound()
    account = await repository.account_by_username(session, username)
    if account is None:
        raise NotFound()
    return account


@dataclass(frozen=True, slots=True)
class ProfileChanges:
    """Fields of update_credentials; None means "leave as it is"."""

    display_name: str | None = None
    note: str | None = None
    locked: bool | None = None
    bot: bool | None = None
    discoverable: bool | None = None
    privacy: str | None = None
    sensitive: bool | None = None
    language: str | None = None
    avatar_file: str | None = None
    avatar_small_file: str | None = None
    header_file: str | None = None


def check_profile(changes: ProfileChanges) -> None:
    errors: FieldErrors = {}
    if changes.display_name is not None and len(changes.display_name) > DISPLAY_NAME_MAX:
        errors["display_name"] = [
            ("ERR_TOO_LONG", f"is too long (maximum is {DISPLAY_NAME_MAX} characters)")
        ]
    if changes.note is not None and len(changes.note) > NOTE_MAX:
        errors["note"] = [("ERR_TOO_LONG", f"is too long (maximum is {NOTE_MAX} characters)")]
    if changes.privacy is not None and changes.privacy not in PRIVACIES:
        errors["source[privacy]"] = [("ERR_INCLUSION", f"must be one of {', '.join(PRIVACIES)}")]
    if changes.language is not None and len(changes.language) > 8:
        errors["source[language]"] = [("ERR_INVALID", "is not a language code")]
    if errors:
        raise ValidationFailed(errors)


async def do_update_profile(
    session: AsyncSession, account: Account, changes: ProfileChanges
) -> None:
    """Apply checked changes. Unlocking an account accepts the requests waiting on it."""
    unlocking = account.locked and changes.locked is False
    mapping = {
        "display_name": changes.display_name,
        "note": changes.note,
        "locked": changes.locked,
        "bot": changes.bot,
        "discoverable": changes.discoverable,
        "default_privacy": changes.privacy,
        "default_sensitive": changes.sensitive,
        "default_language": changes.language,
        "avatar_file": changes.avatar_file,
        "avatar_small_file": changes.avatar_small_file,
        "header_file": changes.header_file,
    }
    for name, value in mapping.items():
        if value is not None:
            setattr(account, name, value)
    repository.mark_changed(session, account.id)
    await session.flush()
    if unlocking:
        for requester in await repository.requester_ids(session, account.id):
            await answer_follow_request(session, account, requester, accept=True)
    await session.refresh(account)


# -- follow graph ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Relationship:
    id: int
    following: bool = False
    showing_reblogs: bool = False
    notifying: bool = False
    followed_by: bool = False
    requested: bool = False
    requested_by: bool = False


async def relationships(
    session: AsyncSession, viewer: int, others: list[int]
) -> list[Relationship]:
    """The viewer's relationship to each of `others`, in the order asked."""
    edges = await repository.follow_edges(session, viewer, others)
    result = []
    for other in others:
        out = edges["following"].get(other) or edges["requested"].get(other)
        result.append(
            Relationship(
                id=other,
                following=other in edges["following"],
                showing_reblogs=bool(out and out.show_reblogs),
                notifying=bool(out and out.notify),
                followed_by=other in edges["followed_by"],
                requested=other in edges["requested"],
                requested_by=other in edges["requested_by"],
            )
        )
    return result


async def relationship(session: AsyncSession, viewer: int, other: int) -> Relationship:
    return (await relationships(session, viewer, [other]))[0]


async def follow(
    session: AsyncSession, actor: Account, target_id: int, *, reblogs: bool, notify: bool
) -> Relationship:
    """Follow, or ask to follow a locked account. Repeating it only updates the options."""
    if target_id == actor.id:
        raise Forbidden("You cannot follow yourself")
    target = await get_account(session, target_id)
    existing = await repository.get_follow(session, actor.id, target.id)
    if existing is None:
        existing_request = await repository.get_follow_request(session, actor.id, target.id)
        if existing_request is not None:
            existing_request.show_reblogs, existing_request.notify = reblogs, notify
        elif target.locked:
            session.add(
                FollowRequest(
                    id=new_id(actor.id),
                    account_id=actor.id,
                    target_account_id=target.id,
                    show_reblogs=reblogs,
                    notify=notify,
                )
            )
            await repository.bump_counters(session, target.id, follow_requests_count=1)
            emit(
                session, "follow_request.created", {"follower_id": actor.id, "target_id": target.id}
            )
        else:
            await _insert_follow(session, actor.id, target.id, reblogs=reblogs, notify=notify)
    else:
        existing.show_reblogs, existing.notify = reblogs, notify
    await session.flush()
    return await relationship(session, actor.id, target.id)


async def _insert_follow(
    session: AsyncSession,
    follower: int,
    target: int,
    *,
    reblogs: bool,
    notify: bool,
    approved: bool = False,
) -> None:
    """`approved`: the target accepted a request (so `account.followed` says so, and no
    one is notified of a follow the target has just allowed)."""
    session.add(
        Follow(
            id=new_id(follower),
            account_id=follower,
            target_account_id=target,
            show_reblogs=reblogs,
            notify=notify,
        )
    )
    await repository.bump_counters(session, follower, following_count=1)
    await repository.bump_counters(session, target, followers_count=1)
    payload: dict[str, object] = {"follower_id": follower, "target_id": target}
    if approved:
        payload["approved"] = True
    emit(session, "account.followed", payload)


async def _remove_follow(session: AsyncSession, follower: int, target: int) -> None:
    edge = await repository.get_follow(session, follower, target)
    if edge is not None:
        await repository.delete_row(session, edge)
        await repository.bump_counters(session, follower, following_count=-1)
        await repository.bump_counters(session, target, followers_count=-1)
        emit(session, "account.unfollowed", {"follower_id": follower, "target_id": target})


async def _remove_request(session: AsyncSession, follower: int, target: int) -> bool:
    request = await repository.get_follow_request(session, follower, target)
    if request is None:
        return False
    await repository.delete_row(session, request)
    await repository.bump_counters(session, target, follow_requests_count=-1)
    emit(session, "follow_request.removed", {"follower_id": follower, "target_id": target})
    return True


async def unfollow(session: AsyncSession, actor: Account, target_id: int) -> Relationship:
    """Stop following, or withdraw a pending request."""
    await get_account(session, target_id)
    await _remove_follow(session, actor.id, target_id)
    await _remove_request(session, actor.id, target_id)
    await session.flush()
    return await relationship(session, actor.id, target_id)


async def remove_from_followers(
    session: AsyncSession, actor: Account, follower_id: int
) -> Relationship:
    await get_account(session, follower_id)
    await _remove_follow(session, follower_id, actor.id)
    await session.flush()
    return await relationship(session, actor.id, follower_id)


async def answer_follow_request(
    session: AsyncSession, actor: Account, requester_id: int, *, accept: bool
) -> Relationship:
    """Authorize (accept) or reject a pending request to `actor`."""
    request = await repository.get_follow_request(session, requester_id, actor.id)
    if request is None:
        raise NotFound()
    reblogs, notify = request.show_reblogs, request.notify
    await _remove_request(session, requester_id, actor.id)
    if accept and await repository.get_follow(session, requester_id, actor.id) is None:
        await _insert_follow(
            session, requester_id, actor.id, reblogs=reblogs, notify=notify, approved=True
        )
    await session.flush()
    return await relationship(session, actor.id, requester_id)


ListKind = Literal["followers", "following", "follow_requests"]


async def account_list(
    session: AsyncSession, kind: ListKind, account_id: int, page: Page
) -> list[tuple[int, Account]]:
    """(edge id, account) pairs for a followers, following or follow-requests page."""
    if kind == "followers":
        edges = await repository.paged_edges(session, Follow, page=page, target=account_id)
    elif kind == "following":
        edges = await repository.paged_edges(session, Follow, page=page, source=account_id)
    else:
        edges = await repository.paged_edges(session, FollowRequest, page=page, target=account_id)
    accounts = await repository.accounts_by_ids(session, (other for _, other in edges))
    return [(edge_id, accounts[other]) for edge_id, other in edges if other in accounts]


async def search(
    session: AsyncSession,
    query: str,
    *,
    limit: int,
    offset: int,
    viewer: int | None,
    following: bool,
    local_domain: str,
) -> list[Account]:
    text = query.strip().lstrip("@")
    username, _, domain = text.partition("@")
    if not username or (domain and domain.lower() != local_domain.lower()):
        return []
    return list(
        await repository.search_accounts(
            session, username, limit, offset, viewer if following else None
        )
    )


async def existing_ids(session: AsyncSession, ids: list[int]) -> set[int]:
    return set(await repository.accounts_by_ids(session, ids))


async def count_accounts(session: AsyncSession) -> int:
    return await repository.count_accounts(session)
