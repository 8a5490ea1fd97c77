"""Id-cursor pagination (`max_id`, `since_id`, `min_id`, `limit`) and Mastodon's Link header."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode

from fastapi import Request
from pydantic import Field
from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute

from tessera.core.params import Params

__all__ = ["Page", "PageParams", "link_header", "newest_first", "within"]

S = TypeVar("S", bound=Select[*tuple[Any, ...]])
T = TypeVar("T")


class PageParams(Params):
    max_id: int | None = Field(default=None, ge=0)
    since_id: int | None = Field(default=None, ge=0)
    min_id: int | None = Field(default=None, ge=0)
    limit: int | None = None

    def page(self, default: int) -> Page:
        """Mastodon clamps the limit to [1, 2 × default]; a missing one means the default.

        Cursors beyond the largest id mean the same as the largest id, which the
        database's 64-bit columns can still compare with.
        """
        limit = default if self.limit is None else min(max(abs(self.limit), 1), 2 * default)
        return Page(_clamp(self.max_id), _clamp(self.since_id), _clamp(self.min_id), limit)


_LARGEST_ID = 2**63 - 1


def _clamp(cursor: int | None) -> int | None:
    return None if cursor is None else min(cursor, _LARGEST_ID)


@dataclass(frozen=True, slots=True)
class Page:
    max_id: int | None
    since_id: int | None
    min_id: int | None
    limit: int

    @property
    def ascending(self) -> bool:
        """`min_id` pages are read oldest-first from the cursor, then reversed."""
        return self.min_id is not None


def within(statement: S, column: InstrumentedAttribute[int], page: Page) -> S:
    """`statement` bounded by the page's cursors on `column`, ordered and limited.

    A `min_id` page is read oldest-first from the cursor; pass its rows to `newest_first`.
    """
    if page.max_id is not None:
        statement = statement.where(column < page.max_id)
    if page.since_id is not None:
        statement = statement.where(column > page.since_id)
    if page.min_id is not None:
        statement = statement.where(column > page.min_id)
    order = column.asc() if page.ascending else column.desc()
    return statement.order_by(order).limit(page.limit)


def newest_first(rows: Sequence[T], page: Page) -> list[T]:
    return list(rows[::-1] if page.ascending else rows)


def link_header(
    request: Request,
    public_url: str | None,
    cursors: list[int],
    limit: int,
    prev_param: str = "min_id",
) -> str | None:
    """The `Link` header for a newest-first page whose items have these cursors."""
    if not cursors:
        return None
    base = (public_url or str(request.base_url).rstrip("/")) + request.url.path
    kept = [
        (key, value)
        for key, value in request.query_params.multi_items()
        if key not in {"max_id", "min_id", "since_id"}
    ]
    links = []
    if len(cursors) >= limit:
        links.append(f'<{base}?{urlencode([*kept, ("max_id", cursors[-1])])}>; rel="next"')
    links.append(f'<{base}?{urlencode([*kept, (prev_param, cursors[0])])}>; rel="prev"')
    return ", ".join(links)
