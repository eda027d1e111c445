"""Which names the server answers to: the Host check that keeps other web sites off the local API.

A page on any site can make the visitor's browser send requests to a name it controls, and then point
that name at 127.0.0.1 (DNS rebinding): the browser takes the answers for the site's own and lets its
script read them. The request still carries the site's name in its Host header, so a server that
answers only to its own names (loopback's by default, the address it listens on, and those given by
`digitlab serve --allow-host`) gives such a page nothing.
"""

from __future__ import annotations

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
WILDCARDS = ("0.0.0.0", "::", "")  # every address of the machine: no name of its own to answer to


def allowed_names(bound_host: str, extra: tuple[str, ...] = ()) -> frozenset[str]:
    """The names a Host header may carry: loopback's, `bound_host` (the --host listened on) unless a
    wildcard, and `extra` (--allow-host), each lower case and IPv6 in brackets as Host writes it."""
    names = [*LOOPBACK_NAMES, *extra]
    if bound_host not in WILDCARDS:
        names.append(bound_host)
    return frozenset(_bracketed(name_of(name.encode("latin-1"))) for name in names)


def name_of(host: bytes) -> str:
    """A Host header's name, without its port, lower case: b"LocalHost:8000" -> "localhost", b"[::1]:80" -> "[::1]"."""
    text = host.decode("latin-1").strip().lower()
    if text.startswith("["):
        return text[: text.find("]") + 1] if "]" in text else text
    return text.rsplit(":", 1)[0] if text.count(":") == 1 else text


def check_name(name: str) -> str | None:
    """Why `name` (an --allow-host) cannot be a Host header's name, or None if it can."""
    if not name or any(c.isspace() or c in "/@?#" for c in name) or not name.isascii():
        return "give a host name or address as a browser's address bar shows it, such as mybox.local"
    return None


def _bracketed(name: str) -> str:
    return f"[{name}]" if ":" in name and not name.startswith("[") else name
