"""The pipelined MultiHasher (ordered per-algorithm lanes): digests equal hashlib's whatever
the block sizes and buffer types, a reused buffer may change right after ``update``, and
streams hashed at once (more lanes than lane threads) each get their own right digests."""

from __future__ import annotations

import hashlib
import os
import random
import threading
import time
import tracemalloc

import pytest

from providers.hashing import LANE_BYTES, LANE_TURN, PARALLEL_MIN_BYTES, MultiHasher

MIB = 1024 * 1024


def expected(data: bytes) -> tuple[str, str, str]:
    return (
        hashlib.md5(data).hexdigest(),
        hashlib.sha1(data).hexdigest(),
        hashlib.sha256(data).hexdigest(),
    )


def got(hasher: MultiHasher) -> tuple[str, str, str]:
    digests = hasher.digests()
    return digests.md5, digests.sha1, digests.sha256


@pytest.mark.parametrize("pipelined", [True, False])
def test_odd_blocks_of_every_buffer_type_hash_like_hashlib(pipelined: bool) -> None:
    rng = random.Random(13)
    body = os.urandom(40 * MIB + 4099)  # many times LANE_BYTES, odd tail
    sizes = [1, 4095, PARALLEL_MIN_BYTES - 1, PARALLEL_MIN_BYTES, PARALLEL_MIN_BYTES + 1, MIB + 7]
    hasher = MultiHasher(pipelined=pipelined)
    reused = bytearray(2 * MIB)
    offset, kind = 0, 0
    while offset < len(body):
        size = min(rng.choice(sizes), len(body) - offset)
        block = body[offset : offset + size]
        kind = (kind + 1) % 3
        if kind == 0:
            hasher.update(block)
        elif kind == 1:
            hasher.update(bytearray(block))
        else:  # a reused buffer, overwritten as soon as update returns
            reused[:size] = block
            hasher.update(memoryview(reused)[:size])
            reused[:size] = b"\xff" * size
        offset += size
    assert hasher.size == len(body)
    assert got(hasher) == expected(body)


def test_digests_midway_and_the_hasher_stays_usable() -> None:
    first, second = os.urandom(3 * MIB + 1), os.urandom(2 * MIB + 3)
    hasher = MultiHasher(pipelined=True)
    for i in range(0, len(first), 256 * 1024):
        hasher.update(first[i : i + 256 * 1024])
    assert got(hasher) == expected(first)
    hasher.update(second)
    assert got(hasher) == expected(first + second)


def test_more_streams_than_lane_threads_all_progress() -> None:
    """Two endless streams keep lane threads busy; a third stream of more than LANE_TURN
    blocks still finishes meanwhile, and every stream's digests are its own."""
    block = os.urandom(MIB)  # slow to hash: their producers keep the lanes' queues full
    stop = threading.Event()
    fed: list[int] = [0, 0]
    results: list[tuple[str, str, str] | None] = [None, None]

    def endless(i: int) -> None:
        hasher = MultiHasher(pipelined=True)
        while not stop.is_set():
            hasher.update(block)
            fed[i] += 1
        results[i] = got(hasher)

    hogs = [threading.Thread(target=endless, args=(i,), daemon=True) for i in range(2)]
    for hog in hogs:
        hog.start()
    try:
        time.sleep(0.2)
        body = os.urandom(PARALLEL_MIN_BYTES * (4 * LANE_TURN + 1))
        done = threading.Event()
        third: list[tuple[str, str, str]] = []

        def finite() -> None:
            hasher = MultiHasher(pipelined=True)
            for i in range(0, len(body), PARALLEL_MIN_BYTES):
                hasher.update(body[i : i + PARALLEL_MIN_BYTES])
            third.append(got(hasher))
            done.set()

        threading.Thread(target=finite, daemon=True).start()
        assert done.wait(60), "a stream starved while two others kept their lanes busy"
        assert third == [expected(body)]
    finally:
        stop.set()
        for hog in hogs:
            hog.join(60)
    for i in range(2):
        assert results[i] == expected(block * fed[i])


def test_a_fast_producer_is_held_to_lane_bytes() -> None:
    """Fresh 1 MiB blocks produced much faster than MD5 consumes them: what is allocated at
    any time stays near LANE_BYTES plus a few blocks, not the 64 MiB fed."""
    seed = os.urandom(MIB)
    hasher = MultiHasher(pipelined=True)
    tracemalloc.start()
    try:
        for i in range(64):
            hasher.update(bytes([i]) + seed[1:])  # a new object each time
        digests = hasher.digests()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < LANE_BYTES + 4 * MIB, f"peak {peak / MIB:.1f} MiB"
    reference = hashlib.sha256()
    for i in range(64):
        reference.update(bytes([i]) + seed[1:])
    assert digests.sha256 == reference.hexdigest()
