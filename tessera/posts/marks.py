"""The viewer's own marks on posts (liked, saved), read from whichever service keeps them.

The interactions service keeps them, and imports this one, so this service cannot call
it: the app factory hands its reader in (`use_viewer_marks`). Until then nothing shows
as marked. Rendering asks once per page, so a reader must answer for all ids at once.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["Marks", "ViewerMarks", "use_viewer_marks", "viewer_marks"]


@dataclass(frozen=True, slots=True)
class Marks:
    """The ids, among those asked about, of the posts the viewer liked and saved."""

    favourited: frozenset[int] = frozenset()
    bookmarked: frozenset[int] = frozenset()


class ViewerMarks(Protocol):
    async def __call__(
        self, session: AsyncSession, viewer_id: int, post_ids: Collection[int]
    ) -> Marks: ...


async def _unmarked(session: AsyncSession, viewer_id: int, post_ids: Collection[int]) -> Marks:
    return Marks()


_reader: list[ViewerMarks] = [_unmarked]


def use_viewer_marks(reader: ViewerMarks) -> None:
    """Read the viewer's marks with `reader` from now on, in this process."""
    _reader[0] = reader


async def viewer_marks(session: AsyncSession, viewer_id: int, post_ids: Collection[int]) -> Marks:
    return await _reader[0](session, viewer_id, post_ids)
