"""`--web.systemd-socket`: serve on the sockets systemd passed (socket activation).

The protocol of sd_listen_fds(3), as go-systemd's activation.Listeners reads it for the
exporter-toolkit: LISTEN_PID names this process, LISTEN_FDS counts the descriptors from
3 on; the variables are removed once read, so that no child takes them for its own.
"""

from __future__ import annotations

import os
import socket
from collections.abc import MutableMapping

LISTEN_FDS_START = 3
"""SD_LISTEN_FDS_START: the first descriptor systemd passes."""


class SocketActivationError(OSError):
    """No usable socket was passed; reported at start-up, exit code 1 (as the toolkit)."""


def listen_sockets(
    environ: MutableMapping[str, str] | None = None, pid: int | None = None
) -> list[socket.socket]:
    """The listening stream sockets systemd passed to this process (at least one)."""
    env = os.environ if environ is None else environ
    wanted_pid, count = env.get("LISTEN_PID", ""), env.get("LISTEN_FDS", "")
    for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        env.pop(name, None)
    if not wanted_pid or not count:
        raise SocketActivationError(
            "--web.systemd-socket: no socket passed (LISTEN_PID and LISTEN_FDS unset: start"
            " the exporter from a systemd .socket unit or systemd-socket-activate)"
        )
    if wanted_pid != str(os.getpid() if pid is None else pid):
        raise SocketActivationError(
            f"--web.systemd-socket: the sockets were passed to process {wanted_pid}, not to"
            " this one (LISTEN_PID)"
        )
    if not count.isdigit() or int(count) < 1:
        raise SocketActivationError(f"--web.systemd-socket: LISTEN_FDS={count!r}: no socket")
    sockets = []
    for fd in range(LISTEN_FDS_START, LISTEN_FDS_START + int(count)):
        try:
            sock = socket.socket(fileno=fd)
        except OSError as exc:
            raise SocketActivationError(
                f"--web.systemd-socket: descriptor {fd} is not a socket: {exc.strerror}"
            ) from None
        os.set_inheritable(fd, False)
        listening = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
        if sock.type != socket.SOCK_STREAM or not listening:
            sock.detach()
            raise SocketActivationError(
                f"--web.systemd-socket: descriptor {fd} is not a listening stream socket"
                " (ListenStream= in the .socket unit, without Accept=yes)"
            )
        sockets.append(sock)
    return sockets


def describe(sock: socket.socket) -> str:
    """host:port or the path of a socket, for the start-up line."""
    name = sock.getsockname()
    if isinstance(name, tuple):
        host = f"[{name[0]}]" if ":" in name[0] else name[0]
        return f"{host}:{name[1]}"
    return str(name) or "unnamed unix socket"
