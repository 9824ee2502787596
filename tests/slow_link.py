"""A TCP relay that plays a slow network between a gRPC client and the server.

Towards the client it forwards at a fixed rate, so a large response is still in the
server's send buffer when the server finishes the call. Towards the server it keeps
HTTP/2 traffic flowing, as a real client does while it reads: between whole frames it
adds a one-byte connection WINDOW_UPDATE every few milliseconds. A server that closes a
connection while its send buffer holds data then gets those bytes on a closed socket,
and the kernel resets the connection: the client loses the rest of the response. That
is the failure this relay makes likely instead of rare.
"""

from __future__ import annotations

import select
import socket
import struct
import threading
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
FRAME_HEADER = 9
WINDOW_UPDATE = struct.pack(">I", 4)[1:] + bytes([0x8, 0]) + struct.pack(">II", 0, 1)


class SlowLink:
    """Listen on a free loopback port and relay every connection to `upstream_port`."""

    def __init__(self, upstream_port: int, bytes_per_second: float, nudge_seconds: float = 0.005):
        self.upstream_port = upstream_port
        self.rate = bytes_per_second
        self.nudge = nudge_seconds
        self.resets = 0  # connections the server reset while the relay still read from it
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen()
        self.port = int(self.listener.getsockname()[1])
        self.closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self.closed.set()
        self.listener.close()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.socket()
            # a small receive buffer keeps the relay from soaking up the response at once
            server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
            server.connect(("127.0.0.1", self.upstream_port))
            threading.Thread(target=self._to_server, args=(client, server), daemon=True).start()
            threading.Thread(target=self._to_client, args=(server, client), daemon=True).start()

    def _to_client(self, server: socket.socket, client: socket.socket) -> None:
        try:
            while data := server.recv(16 * 1024):
                client.sendall(data)
                time.sleep(len(data) / self.rate)
            client.shutdown(socket.SHUT_WR)
        except ConnectionResetError:
            self.resets += 1
            _reset(client)
        except OSError:
            _reset(client)

    def _to_server(self, client: socket.socket, server: socket.socket) -> None:
        """Forward whole frames; between them, nudge the server with a WINDOW_UPDATE."""
        pending = b""
        preface_sent = False
        try:
            while not self.closed.is_set():
                readable, _, _ = select.select([client], [], [], self.nudge)
                if readable:
                    data = client.recv(64 * 1024)
                    if not data:
                        server.shutdown(socket.SHUT_WR)
                        return
                    pending += data
                if not preface_sent:
                    if len(pending) < len(PREFACE):
                        continue
                    server.sendall(pending[: len(PREFACE)])
                    pending = pending[len(PREFACE) :]
                    preface_sent = True
                whole = _whole_frames(pending)
                if whole:
                    server.sendall(pending[:whole])
                    pending = pending[whole:]
                elif not pending and not readable:
                    server.sendall(WINDOW_UPDATE)
        except OSError:
            _reset(server)


def _whole_frames(buffer: bytes) -> int:
    """How many leading bytes of `buffer` are complete HTTP/2 frames."""
    offset = 0
    while len(buffer) - offset >= FRAME_HEADER:
        length = int.from_bytes(buffer[offset : offset + 3], "big")
        if len(buffer) - offset < FRAME_HEADER + length:
            break
        offset += FRAME_HEADER + length
    return offset


def _reset(sock: socket.socket) -> None:
    """Pass a reset on: close with SO_LINGER 0, which sends RST instead of FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
