"""One agent per call: the seat an attached agent holds.

A call has at most one agent connection. The first attachment takes the call's seat;
a second attachment while it is held is refused (close code 4409, after an ``error``
frame carrying a problem detail), unless it comes from the *same agent* -- the same
credential: the same agent session, or the same API key -- reconnecting, in which
case it takes the seat over and the old connection is closed with 4000 (replaced).
Commbase's own connect-out to a number's agent holds the seat as the number.

The seat is a token: ``take`` returns a new one, and only its holder may ``keep`` it
alive or ``leave`` it. Over Redis (several API processes) a seat is a key that
expires after ``SEAT_TTL_S`` unless kept (every status poll keeps it, the process's
seats in one pipeline), so a process
that died does not keep a call's seat for ever; the old connection hears that it was
replaced through the call's agent mailbox (``REPLACED_FRAME``), wherever it is.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis

SEAT_TTL_S = 30
REPLACED_FRAME = "replaced"  # internal: {"type": "replaced", "seat": <old token>}


@dataclass(frozen=True, slots=True)
class Taken:
    token: str | None  # None: refused, another agent holds the seat
    replaced: str | None = None  # the token of the same agent's connection taken over


class Seats(Protocol):
    async def take(self, call_id: str, holder: str) -> Taken: ...

    async def keep(self, call_id: str, token: str) -> bool:
        """Still ours (and kept alive); False once another connection took it."""
        ...

    async def leave(self, call_id: str, token: str) -> None: ...


def _token() -> str:
    return secrets.token_hex(8)


class InProcessSeats:
    def __init__(self) -> None:
        self._held: dict[str, tuple[str, str]] = {}

    async def take(self, call_id: str, holder: str) -> Taken:
        current = self._held.get(call_id)
        if current is not None and current[0] != holder:
            return Taken(None)
        token = _token()
        self._held[call_id] = (holder, token)
        return Taken(token, current[1] if current is not None else None)

    async def keep(self, call_id: str, token: str) -> bool:
        current = self._held.get(call_id)
        return current is not None and current[1] == token

    async def leave(self, call_id: str, token: str) -> None:
        current = self._held.get(call_id)
        if current is not None and current[1] == token:
            del self._held[call_id]


# KEYS[1] seat key; ARGV holder, new token, ttl. Returns {status, old token}:
# 0 refused, 1 taken, 2 taken over from the same holder.
_TAKE = """
local held = redis.call('GET', KEYS[1])
if held then
  local sep = string.find(held, '\\n', 1, true)
  local holder = string.sub(held, 1, sep - 1)
  local token = string.sub(held, sep + 1)
  if holder ~= ARGV[1] then return {0, ''} end
  redis.call('SET', KEYS[1], ARGV[1] .. '\\n' .. ARGV[2], 'EX', ARGV[3])
  return {2, token}
end
redis.call('SET', KEYS[1], ARGV[1] .. '\\n' .. ARGV[2], 'EX', ARGV[3])
return {1, ''}
"""
# KEYS[1] seat key; ARGV token, ttl (0: delete). 1 if the token held the seat.
_KEEP = """
local held = redis.call('GET', KEYS[1])
if not held then return 0 end
local sep = string.find(held, '\\n', 1, true)
if string.sub(held, sep + 1) ~= ARGV[1] then return 0 end
if ARGV[2] == '0' then redis.call('DEL', KEYS[1]) else redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return 1
"""


class RedisSeats:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._take = redis.register_script(_TAKE)
        self._keep = redis.register_script(_KEEP)
        # Seats kept at once (every watcher wakes on the same status round) go to
        # Redis as one pipeline: one round trip a second for a process's calls.
        self._keeping: list[tuple[str, str, asyncio.Future[bool]]] = []
        self._keeper: asyncio.Task[None] | None = None

    @staticmethod
    def key(call_id: str) -> str:
        return f"commbase:live:{call_id}:seat"

    async def take(self, call_id: str, holder: str) -> Taken:
        token = _token()
        status, old = await self._take(keys=[self.key(call_id)], args=[holder, token, SEAT_TTL_S])
        if int(status) == 0:
            return Taken(None)
        replaced = old.decode() if isinstance(old, bytes) else str(old)
        return Taken(token, replaced if int(status) == 2 else None)

    async def keep(self, call_id: str, token: str) -> bool:
        kept: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._keeping.append((call_id, token, kept))
        if self._keeper is None or self._keeper.done():
            self._keeper = asyncio.create_task(self._keep_batches(), name="live-seats-keep")
        return await kept

    async def _keep_batches(self) -> None:
        await asyncio.sleep(0)  # the other watchers woken with this one queue theirs
        while self._keeping:
            batch, self._keeping = self._keeping, []
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for call_id, token, _ in batch:
                        await self._keep(
                            keys=[self.key(call_id)], args=[token, SEAT_TTL_S], client=pipe
                        )
                    results = await pipe.execute()
            except Exception as exc:
                for _, _, kept in batch:
                    if not kept.done():
                        kept.set_exception(exc)
                continue
            for (_, _, kept), result in zip(batch, results, strict=True):
                if not kept.done():
                    kept.set_result(bool(result))

    async def leave(self, call_id: str, token: str) -> None:
        await self._keep(keys=[self.key(call_id)], args=[token, 0])
