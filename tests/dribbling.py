"""A server on 127.0.0.1 that never finishes its answer: it reads the request, sends the
status line and then one header line every ``every`` seconds, for as long as its client
stays. It records when each request arrived and when its client went away, so a test can
show that an outbound exchange was cut at its deadline and that the connection was closed."""

from __future__ import annotations

import socket
import threading


class DribblingServer:
    def __init__(self, every: float = 0.3):
        self.every = every
        self.arrived = threading.Event()
        self.client_gone = threading.Event()
        self.lines_sent = 0
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._socket.settimeout(0.2)
        self._stopped = threading.Event()
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._dribble, args=(connection,), daemon=True).start()

    def _dribble(self, connection: socket.socket) -> None:
        with connection:
            connection.settimeout(5)
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = connection.recv(65536)
                if not chunk:
                    return
                request += chunk
            self.arrived.set()
            connection.settimeout(self.every)
            try:
                connection.sendall(b"HTTP/1.1 200 OK\r\n")
                while not self._stopped.is_set():
                    try:  # waits `every`; EOF is the client closing (a body is read on)
                        if connection.recv(65536) == b"":
                            break
                    except TimeoutError:
                        pass
                    self.lines_sent += 1
                    connection.sendall(f"X-Still-Coming-{self.lines_sent}: yes\r\n".encode())
            except OSError:  # reset or broken pipe: the client closed
                pass
            if not self._stopped.is_set():
                self.client_gone.set()

    def close(self) -> None:
        self._stopped.set()
        self._socket.close()
