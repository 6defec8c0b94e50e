"""Resumable SSE streams: a session's events kept so a client that lost a stream can resume it.

The SDK asks an ``EventStore`` to keep every event it writes to an SSE stream and, when a
client reconnects with ``Last-Event-ID``, to replay what followed on that stream. Each
session gets its own store, so an event id from another session finds nothing here; the
session manager has already checked that the caller owns the session.
"""

import itertools
from collections import OrderedDict

from mcp.server.streamable_http import EventCallback, EventId, EventMessage, EventStore, StreamId
from mcp_types import JSONRPCMessage

MAX_EVENTS = 1000  # per session: enough for a long build's log lines, bounded memory


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
