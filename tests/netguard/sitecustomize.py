"""Block the network at the socket level in every Python process that imports this.

Put this folder first on PYTHONPATH and set TELEPATHY_BLOCK_NETWORK=1: Python imports
`sitecustomize` at start-up, so Snakemake, the jobs it starts and their children all get the
guard. Any connect() to a non-loopback address, and any name lookup other than a loopback
name, raises OSError and is appended to $TELEPATHY_NETWORK_LOG, so a test can assert that
nothing even tried (a job that catches the error and carries on is still caught).
"""

import os
import socket

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", ""}


def _loopback(host: object) -> bool:
    if not isinstance(host, str):
        return True  # AF_UNIX paths and the like
    host = host.strip("[]").lower()
    return (
        host in _LOOPBACK_NAMES
        or host == socket.gethostname().lower()
        or host.startswith("127.")
        or host in ("::1", "0:0:0:0:0:0:0:1")
    )


def _refuse(what: str) -> OSError:
    path = os.environ.get("TELEPATHY_NETWORK_LOG")
    if path:
        try:
            with open("/proc/self/cmdline", "rb") as handle:
                command = handle.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            command = "?"
        with open(path, "a") as log:
            log.write(f"{os.getpid()} {what} [{command[:300]}]\n")
    return OSError(f"network blocked by the test's guard: {what}")


if os.environ.get("TELEPATHY_BLOCK_NETWORK") == "1":
    _connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex
    _getaddrinfo = socket.getaddrinfo

    def _address_host(address: object) -> object:
        return address[0] if isinstance(address, tuple) else address

    def connect(self: socket.socket, address: object) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(
            _address_host(address)
        ):
            raise _refuse(f"connect {address!r}")
        return _connect(self, address)

    def connect_ex(self: socket.socket, address: object) -> int:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(
            _address_host(address)
        ):
            raise _refuse(f"connect_ex {address!r}")
        return _connect_ex(self, address)

    def getaddrinfo(host: object, *args: object, **kwargs: object):
        if not _loopback(host.decode() if isinstance(host, bytes) else host):
            raise socket.gaierror(socket.EAI_NONAME, str(_refuse(f"getaddrinfo {host!r}")))
        return _getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex
    socket.getaddrinfo = getaddrinfo
