"""Whether a Dask scheduler address (``executor.scheduler``, ``run --scheduler``) is one Dask
can connect to, checked without importing Dask (validation stays light).

Dask's client takes ``[SCHEME://]HOST:PORT``: the scheme defaults to ``tcp``; ``tls``, ``ws``,
``wss`` and ``ucx`` work the same way; an IPv6 host is written in brackets (``[::1]:8786``).
The port is required (Dask refuses ``tcp://head-node``); a scheduler started with ``dask
scheduler`` listens on 8786 unless told otherwise. Dask's ``inproc://`` addresses name a
scheduler inside one process, which a run cannot reach, so they are refused here.

Example:
    >>> scheduler_address_problem("tcp://head-node:8786") is None
    True
    >>> scheduler_address_problem("head-node")
    "expected a Dask scheduler address [SCHEME://]HOST:PORT; got 'head-node' (no port; a scheduler started with 'dask scheduler' listens on 8786: 'head-node:8786')"
"""

from __future__ import annotations

SCHEDULER_SCHEMES = ("tcp", "tls", "ws", "wss", "ucx")
"""The schemes of addresses a run connects to (Dask's ``distributed.comm`` backends but
``inproc``); ``tcp`` when the address has none."""
DEFAULT_SCHEDULER_PORT = 8786
"""The port ``dask scheduler`` listens on by default (suggested when an address has none)."""


def scheduler_address_problem(address: str) -> str | None:
    """What is wrong with a Dask scheduler address, or ``None`` when Dask can parse it.

    Example:
        >>> scheduler_address_problem("[::1]:8786") is None, scheduler_address_problem("10.0.0.1:8786") is None
        (True, True)
        >>> scheduler_address_problem("http://h:8786")
        "expected a Dask scheduler address [SCHEME://]HOST:PORT; got 'http://h:8786' (unknown scheme 'http'; expected one of tcp, tls, ws, wss, ucx)"
    """
    scheme, sep, location = address.rpartition("://")
    if sep and scheme not in SCHEDULER_SCHEMES:
        why: str | None = f"unknown scheme {scheme!r}; expected one of {', '.join(SCHEDULER_SCHEMES)}"
    else:
        why = _host_port_problem(location, address=address)
    if why is None:
        return None
    return f"expected a Dask scheduler address [SCHEME://]HOST:PORT; got {address!r} ({why})"


def _host_port_problem(location: str, *, address: str) -> str | None:
    if location.startswith("["):  # IPv6: [host]:port
        host, closed, tail = location[1:].partition("]")
        if not closed or (tail and not tail.startswith(":")):
            return "an IPv6 host is written in brackets: [::1]:8786"
        port, has_port = tail[1:], bool(tail)
    else:
        host, colon, port = location.rpartition(":")
        host, port, has_port = (host, port, True) if colon else (port, "", False)
        if ":" in host:
            return "an IPv6 host is written in brackets: [::1]:8786"
    if not host:
        return "no host name"
    if not has_port:
        return (
            f"no port; a scheduler started with 'dask scheduler' listens on {DEFAULT_SCHEDULER_PORT}: "
            f"'{address}:{DEFAULT_SCHEDULER_PORT}'"
        )
    if not port.isdigit() or not 0 < int(port) < 65536:
        return f"the port {port!r} is not a number from 1 to 65535"
    return None
