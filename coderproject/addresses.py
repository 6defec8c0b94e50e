"""Listening addresses (``HOST:PORT``) and the URL a process on this host dials to reach one.

Shared by the settings (the default access URL follows ``CODER_ADDRESS``) and the ``server``
command (``--bind``, the URL local agents dial).
"""


def parse_address(value: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:3000`` for IPv6) as a pair; ``ValueError`` saying what is expected."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdecimal() or not 0 < int(port) < 65536:
        raise ValueError(f"{value!r}: expected HOST:PORT, e.g. 127.0.0.1:3000")
    return host.strip("[]"), int(port)


def local_url(host: str, port: int) -> str:
    """``http://host:port``, with a wildcard address (``0.0.0.0``, ``::``) dialed on loopback."""
    address = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)  # noqa: S104 (mapping, not binding)
    hostname = f"[{address}]" if ":" in address else address
    return f"http://{hostname}:{port}"
