"""Captions: the hashtags and mentions in them, and their HTML for Mastodon clients."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

from tessera.posts.models import TAG_MAX

__all__ = ["MentionLink", "caption_html", "hashtags", "mentioned_usernames"]

_TAG = r"(?<![\w#&/])#(?P<tag>\w*[^\W\d]\w*)"
"""`#` then letters, digits and `_` (any script), with at least one non-digit, not inside a
word, URL fragment or HTML entity."""
_MENTION = r"(?<![\w@/.])@(?P<user>[A-Za-z0-9_]+)(?:@(?P<domain>[A-Za-z0-9.:-]*[A-Za-z0-9]))?"
_TOKEN = re.compile(f"{_TAG}|{_MENTION}")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n+")


def hashtags(text: str) -> list[str]:
    """The caption's hashtags, lower-cased, each once, in order of appearance."""
    seen: dict[str, None] = {}
    for match in _TOKEN.finditer(text):
        tag = match.group("tag")
        if tag and len(tag) <= TAG_MAX:
            seen.setdefault(tag.lower())
    return list(seen)


def mentioned_usernames(text: str, local_domain: str) -> list[str]:
    """`@user` and `@user@<this server>` names, lower-cased, each once, in order."""
    seen: dict[str, None] = {}
    for match in _TOKEN.finditer(text):
        user, domain = match.group("user"), match.group("domain")
        if user and (domain is None or domain.lower() == local_domain.lower()):
            seen.setdefault(user.lower())
    return list(seen)


@dataclass(frozen=True, slots=True)
class MentionLink:
    username: str
    url: str


def caption_html(
    text: str, base_url: str, local_domain: str, mentions: Mapping[str, MentionLink]
) -> str:
    """Escaped text in `<p>` paragraphs with `<br />` line breaks; hashtags and the
    mentions of known accounts (keyed by lower-cased username) become links."""
    text = text.replace("\r\n", "\n").strip()
    if not text:
        return ""
    paragraphs = [p for p in _PARAGRAPH_BREAK.split(text) if p.strip()]
    return "".join(
        "<p>"
        + "<br />".join(_line(line, base_url, local_domain, mentions) for line in p.split("\n"))
        + "</p>"
        for p in paragraphs
    )


def _line(line: str, base_url: str, local_domain: str, mentions: Mapping[str, MentionLink]) -> str:
    out: list[str] = []
    position = 0
    for match in _TOKEN.finditer(line):
        link = _link(match, base_url, local_domain, mentions)
        if link is None:
            continue
        out.append(html.escape(line[position : match.start()]))
        out.append(link)
        position = match.end()
    out.append(html.escape(line[position:]))
    return "".join(out)


def _link(
    match: re.Match[str], base_url: str, local_domain: str, mentions: Mapping[str, MentionLink]
) -> str | None:
    tag = match.group("tag")
    if tag is not None:
        if len(tag) > TAG_MAX:
            return None
        href = f"{base_url}/tags/{quote(tag.lower())}"
        return (
            f'<a href="{html.escape(href)}" class="mention hashtag" rel="tag">'
            f"#<span>{html.escape(tag)}</span></a>"
        )
    domain = match.group("domain")
    if domain is not None and domain.lower() != local_domain.lower():
        return None
    mention = mentions.get(match.group("user").lower())
    if mention is None:
        return None
    return (
        f'<span class="h-card" translate="no"><a href="{html.escape(mention.url)}" '
        f'class="u-url mention">@<span>{html.escape(mention.username)}</span></a></span>'
    )
