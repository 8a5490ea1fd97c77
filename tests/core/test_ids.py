"""Time-ordered 64-bit ids: they sort by creation and keep their owner's shard."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from itertools import pairwise

import pytest

from tessera.core.ids import SHARDS, id_from_ms, new_id, shard_of


def now_ms() -> float:
    return time.time() * 1000


def wait_for_the_clock_to_pass(moment_ms: int, deadline_s: float = 2.0) -> None:
    """Busy-wait (bounded) until the wall clock is past `moment_ms`.

    A burst of ids may borrow a few milliseconds from the future; this lets the clock
    catch up so that a fresh id is taken at the current time."""
    give_up = time.monotonic() + deadline_s
    while now_ms() <= moment_ms + 1:
        assert time.monotonic() < give_up, "the clock did not catch up"


def test_an_id_carries_the_current_time_in_milliseconds() -> None:
    wait_for_the_clock_to_pass(new_id() >> 16)
    before = now_ms()
    fresh = new_id()
    after = now_ms()
    assert int(before) - 1 <= fresh >> 16 <= int(after) + 1


def test_an_id_fits_a_signed_64_bit_column() -> None:
    fresh = new_id()
    assert 0 < fresh < 2**63
    # Mastodon.py turns a datetime into an id this way; our ids must compare sensibly with it.
    moment = datetime.now(UTC)
    as_mastodon_py = (int(moment.timestamp()) << 16) * 1000
    assert as_mastodon_py >> 16 <= (new_id() >> 16) * 1000


def test_ids_increase_monotonically() -> None:
    ids = [new_id() for _ in range(10_000)]
    assert all(a < b for a, b in pairwise(ids))
    assert len(set(ids)) == len(ids)


def test_ids_increase_monotonically_across_owners() -> None:
    owners = [new_id() for _ in range(SHARDS)]
    ids = [new_id(owners[i % len(owners)]) for i in range(10_000)]
    assert all(a < b for a, b in pairwise(ids))


def test_later_ids_sort_after_earlier_ones() -> None:
    first = new_id()
    owned = new_id(first)
    later = new_id()
    assert first < owned < later
    assert sorted([later, first, owned]) == [first, owned, later]


def test_an_owned_id_is_in_its_owners_shard() -> None:
    for _ in range(1_000):
        owner = new_id()
        assert shard_of(new_id(owner)) == shard_of(owner)
        assert 0 <= shard_of(owner) < SHARDS


def test_new_users_spread_over_the_shards() -> None:
    shards = {shard_of(new_id()) for _ in range(2_000)}
    assert len(shards) > SHARDS // 2


@pytest.mark.parametrize("shard", [0, 1, 127, 255])
def test_id_from_ms_layout(shard: int) -> None:
    ms = 1_700_000_000_000
    made = id_from_ms(ms, shard, 42)
    assert made >> 16 == ms
    assert shard_of(made) == shard
    assert id_from_ms(ms) <= made < id_from_ms(ms + 1)
    assert id_from_ms(ms, shard, 0) < id_from_ms(ms, shard, 1)
