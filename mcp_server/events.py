"""Resumable SSE streams: a session's events kept so a client that lost a stream can resume it.

The SDK asks an ``EventStore`` to keep every event it writes to an SSE stream and, when a
client reconnects with ``Last-Event-ID``, to replay what followed on that stream. Each
session gets its own store, so an event id from another session finds nothing here; the
session manager has already checked that the caller owns the session.
"""

import asyncio
import itertools
import json
from collections import OrderedDict

import redis.asyncio
from django.conf import settings
from mcp.server.streamable_http import EventCallback, EventId, EventMessage, EventStore, StreamId
from mcp_types import JSONRPCMessage
from pydantic import TypeAdapter

MAX_EVENTS = 1000  # per session: enough for a long build's log lines, bounded memory
EVENT_TTL = 24 * 3600  # seconds a session's events outlive its last one (Redis store)


class SessionEventStore(EventStore):
    def __init__(self, max_events: int = MAX_EVENTS) -> None:
        self._events: OrderedDict[EventId, tuple[StreamId, JSONRPCMessage | None]] = OrderedDict()
        self._ids = itertools.count(1)
        self._max_events = max_events

    async def store_event(self, stream_id: StreamId, message: JSONRPCMessage | None) -> EventId:
        event_id = str(next(self._ids))
        self._events[event_id] = (stream_id, message)
        if len(self._events) > self._max_events:
            self._events.popitem(last=False)
        return event_id

    async def replay_events_after(self, last_event_id: EventId, send_callback: EventCallback) -> StreamId | None:
        if last_event_id not in self._events:
            return None
        stream_id = self._events[last_event_id][0]
        after = int(last_event_id)
        for event_id, (event_stream, message) in list(self._events.items()):
            if int(event_id) > after and event_stream == stream_id and message is not None:
                await send_callback(EventMessage(message, event_id))
        return stream_id


_MESSAGE = TypeAdapter(JSONRPCMessage)
_redis_clients: dict[int, "redis.asyncio.Redis"] = {}


def _redis() -> "redis.asyncio.Redis":
    """One client per event loop (the session managers' loop), made on first use."""
    loop_id = id(asyncio.get_running_loop())
    if loop_id not in _redis_clients:
        _redis_clients[loop_id] = redis.asyncio.from_url(settings.REDIS_URL)
    return _redis_clients[loop_id]


class RedisSessionEventStore(EventStore):
    """The same store in Redis, so a stream cut on one worker resumes on any other.

    Keys are namespaced by the session id, hold at most ``max_events`` events and expire
    ``ttl`` seconds after the session's last event.
    """

    def __init__(self, session_id: str, *, max_events: int = MAX_EVENTS, ttl: int = EVENT_TTL) -> None:
        self._key = f"coder:mcp:events:{session_id}"
        self._max_events = max_events
        self._ttl = ttl

    async def store_event(self, stream_id: StreamId, message: JSONRPCMessage | None) -> EventId:
        client = _redis()
        event_id = await client.incr(self._key + ":seq")
        body = _MESSAGE.dump_json(message, by_alias=True, exclude_none=True).decode() if message else None
        entry = json.dumps({"id": event_id, "stream": stream_id, "message": body})
        async with client.pipeline(transaction=True) as pipe:
            pipe.zadd(self._key, {entry: event_id})
            pipe.zremrangebyrank(self._key, 0, -self._max_events - 1)
            pipe.expire(self._key, self._ttl)
            pipe.expire(self._key + ":seq", self._ttl)
            await pipe.execute()
        return str(event_id)

    async def replay_events_after(self, last_event_id: EventId, send_callback: EventCallback) -> StreamId | None:
        if not last_event_id.isdecimal():
            return None
        client = _redis()
        after = int(last_event_id)
        found = await client.zrangebyscore(self._key, after, after)
        if not found:
            return None
        stream_id = json.loads(found[0])["stream"]
        for raw in await client.zrangebyscore(self._key, f"({after}", "+inf"):
            entry = json.loads(raw)
            if entry["stream"] == stream_id and entry["message"] is not None:
                await send_callback(EventMessage(_MESSAGE.validate_json(entry["message"]), str(entry["id"])))
        return stream_id


def event_store_for(session_id: str | None) -> EventStore:
    """Redis-backed in production (any worker resumes any stream), in memory otherwise."""
    if settings.REDIS_URL and session_id:
        return RedisSessionEventStore(session_id)
    return SessionEventStore()
