#!/usr/bin/env python3
"""Writes the fuzz seeds from the raw requests in the test suite.

Every Rust string literal in the files of SOURCES (the tests that send raw requests) that starts
like a request (a method, or blank lines, then ` HTTP/` and a line end) becomes one
seed for parse_head and one for connection (with the default schedule: send it all,
read everything), one per shape (see `shape`). A few extra connection seeds put pipelines of them on schedules that
split, pace and stall. Run from the repository root:

    python3 fuzz/seeds/extract.py
"""
import hashlib
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
SOURCES = [
    "tests/protocol.rs",
    "tests/protocol_rejections.rs",
    "tests/rejections.rs",
    "tests/builtin_routes.rs",
    "tests/framing.rs",
    "tests/keep_alive.rs",
    "tests/limits.rs",
    "tests/expect_continue.rs",
    "tests/observability.rs",
]
OUT = ROOT / "fuzz" / "seeds"

LITERAL = re.compile(rb'b?"((?:[^"\\]|\\.|\\\n)*)"', re.S)
REQUEST = re.compile(rb"^(\r?\n)*[A-Z]+ \S+ HTTP/[^\r\n]*\r?\n")


def unescape(body: bytes) -> bytes:
    out, i = bytearray(), 0
    while i < len(body):
        c = body[i]
        if c != ord("\\"):
            out.append(c)
            i += 1
            continue
        e = body[i + 1 : i + 2]
        if e == b"\n":  # line continuation: skip the newline and leading whitespace
            i += 2
            while i < len(body) and body[i] in b" \t":
                i += 1
            continue
        simple = {b"r": 13, b"n": 10, b"t": 9, b"0": 0, b"\\": 92, b'"': 34, b"'": 39}
        if e in simple:
            out.append(simple[e])
            i += 2
        elif e == b"x":
            out.append(int(body[i + 2 : i + 4], 16))
            i += 4
        else:
            raise ValueError(f"escape {e!r}")
    return bytes(out)


def shape(raw: bytes) -> bytes:
    """What makes a request different for the parser: not its target, Host value
    or request id (many tests differ only in those)."""
    raw = re.sub(rb"^((?:\r?\n)*[A-Z]+) \S+ ", rb"\1 / ", raw)
    raw = re.sub(rb"(?i)host: test", b"Host: t", raw)
    return re.sub(rb"(?i)x-request-id: [^\r\n]*\r?\n", b"", raw)


def requests():
    seen, shapes = [], set()
    for source in SOURCES:
        text = (ROOT / source).read_bytes()
        for m in LITERAL.finditer(text):
            raw = unescape(m.group(1))
            if b"{" in raw or not REQUEST.match(raw) or shape(raw) in shapes:
                continue
            shapes.add(shape(raw))
            seen.append(raw)
    return seen


def write(target: str, data: bytes):
    d = OUT / target
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha1(data).hexdigest()[:16]).write_bytes(data)


def connection(raw: bytes, schedule: bytes = b"", flags: int = 0, limits=(0, 0)) -> bytes:
    """The connection target's format: flags, schedule length, two limit bytes,
    the schedule, then the client's bytes (see fuzz/src/connection.rs)."""
    return bytes([flags, len(schedule), *limits]) + schedule + raw


def op(code: int, arg: int) -> int:
    return code << 5 | arg


SEND, WRITE, ADVANCE, EOF, READ_ALL, REPEAT, SHUTDOWN, POKE = range(8)

if __name__ == "__main__":
    # Inputs the fuzzers once failed on are kept (regression-*); the rest is rebuilt.
    for d in OUT.iterdir():
        if d.is_dir():
            for f in d.iterdir():
                if not f.name.startswith("regression-"):
                    f.unlink()
    raws = requests()
    for raw in raws:
        write("parse_head", raw)
        write("connection", connection(raw))
    pipeline = b"".join(r for r in raws if b"/hello" in r or b"/echo" in r)[:4000]
    # One byte at a time, reading after each.
    write("connection", connection(pipeline[:600], bytes([op(SEND, 1), op(WRITE, 31)] * 100)))
    # Pipelined, never read, repeated into the high water mark, then read in small bites.
    hello = b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"
    write("connection", connection(hello, bytes([op(SEND, 29), op(REPEAT, 12)] + [op(WRITE, 20)] * 50)))
    # A delayed response, a time step past it, a stalled reader, the write timeout.
    delay = b"GET /delay/50 HTTP/1.1\r\nHost: t\r\n\r\n"
    delayed = delay + hello
    write("connection", connection(delayed, bytes([op(SEND, 31), op(ADVANCE, 5), op(WRITE, 0), op(ADVANCE, 23)])))
    # A dribbled head and the header timeout.
    write("connection", connection(hello, bytes([op(SEND, 10), op(ADVANCE, 16), op(SEND, 31)])))
    # 100-continue, the body after the interim response, EOF, shutdown.
    cont = b"POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc"
    # (a send of size 0 sends through the next empty line: the head alone)
    write("connection", connection(cont, bytes([op(SEND, 0), op(READ_ALL, 0), op(SEND, 3), op(EOF, 0)])))
    # 100-continue behind a delayed response: the 100 waits for it.
    write("connection", connection(delay + cont, bytes([op(SEND, 0), op(SEND, 0), op(ADVANCE, 5), op(READ_ALL, 0)])))
    write("connection", connection(delayed, bytes([op(SEND, 31), op(SHUTDOWN, 0), op(POKE, 0)])))
    # Tight limits and no keep-alive.
    write("connection", connection(pipeline[:1000], b"", flags=3, limits=(0x45, 0x23)))
    for d in sorted(OUT.iterdir()):
        if d.is_dir():
            print(d.name, len(list(d.iterdir())))
