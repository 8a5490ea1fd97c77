"""OAuth scopes, Mastodon's set: top-level scopes grant their `read:`/`write:` children."""

from __future__ import annotations

__all__ = ["KNOWN_SCOPES", "parse_scopes", "satisfies"]

_READ = [
    "accounts",
    "blocks",
    "bookmarks",
    "favourites",
    "filters",
    "follows",
    "lists",
    "mutes",
    "notifications",
    "search",
    "statuses",
]
_WRITE = [
    "accounts",
    "blocks",
    "bookmarks",
    "conversations",
    "favourites",
    "filters",
    "follows",
    "lists",
    "media",
    "mutes",
    "notifications",
    "reports",
    "statuses",
]
_FOLLOW = {
    "read:blocks",
    "read:follows",
    "read:mutes",
    "write:blocks",
    "write:follows",
    "write:mutes",
}

KNOWN_SCOPES = frozenset(
    ["read", "write", "follow", "push", "profile"]
    + [f"read:{name}" for name in _READ]
    + [f"write:{name}" for name in _WRITE]
)


def parse_scopes(text: str | None, default: str = "read") -> list[str] | None:
    """The scopes in a space- or `+`-separated string, or None if one is unknown."""
    scopes = [s for s in (text or default).replace("+", " ").split() if s]
    if not scopes or any(s not in KNOWN_SCOPES for s in scopes):
        return None
    return list(dict.fromkeys(scopes))


def satisfies(granted: frozenset[str] | set[str], required: str) -> bool:
    """Whether `granted` covers `required`, through a parent or the old `follow` scope."""
    if required in granted:
        return True
    parent = required.split(":", 1)[0]
    if parent != required and parent in granted:
        return True
    return "follow" in granted and required in _FOLLOW
