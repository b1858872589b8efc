"""The HTTP connection: uvicorn's h11 protocol plus one guard it lacks.

uvicorn closes idle keep-alive connections, but a client that opens a connection and sends its request head a
byte at a time (slowloris) is never timed out: each byte cancels the idle timer. Here every connection must finish
its request head within `HEAD_TIMEOUT_S` of opening (or of its previous response), whatever it trickles. Slow
bodies are bounded separately (`serve.preprocess.read_body`).
"""

from __future__ import annotations

import asyncio

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

HEAD_TIMEOUT_S = 10.0


class GuardedH11Protocol(H11Protocol):
    head_timeout = HEAD_TIMEOUT_S

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        timer = getattr(self, "_head_timer", None)
        if timer is not None:
            timer.cancel()
        super().connection_lost(exc)

    def _arm(self) -> None:
        old = getattr(self, "_head_timer", None)
        if old is not None:
            old.cancel()
        self._head_timer = self.loop.call_later(self.head_timeout, self._close_if_headless)

    def _close_if_headless(self) -> None:
        """No complete request head yet: the client is too slow (or idle); close the connection."""
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()
