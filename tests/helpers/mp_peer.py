#!/usr/bin/env python3
"""A real Python peer for pipekit's channel tests: CPython's own
multiprocessing.connection.Connection over descriptors it inherited, or over
FIFOs it opens itself.

    mp_peer.py MODE --fd N [ARGS]            one duplex descriptor (a socket)
    mp_peer.py MODE --rfd R --wfd W [ARGS]   one descriptor to read, one to write
    mp_peer.py MODE --env VAR [ARGS]         the duplex descriptor named by $VAR
    mp_peer.py MODE --rfifo R --wfifo W [ARGS]
                                             FIFO R to read, FIFO W to write, each opened with a
                                             blocking os.open() in the order given (either may
                                             come alone: a one-way peer)

A FIFO's open waits for the other end, so a peer on a FIFO pair must open the
two FIFOs in the same order as this helper, or both wait for ever.

Modes (only send_bytes/recv_bytes, the part of the protocol pipekit speaks):
    echo            send back every message received, until end of stream
    send SIZE...    send one message of each SIZE (pattern seeded by its index), then close
    expect SIZE...  receive one message of each SIZE, check the pattern, then require end of stream
    swap BYTES      send one message of BYTES *before* reading, then receive one of BYTES
                    (the two-way traffic that deadlocks plain pipes)
    ask SIZE...     for each SIZE, send a message of SIZE (pattern seeded by its index), then
                    receive the answer: SIZE bytes of pattern seeded by 100 + the index; at the
                    end close the sending side and, if it is a separate one, require end of
                    stream on the receiving side
    print           write every message received to stdout followed by a newline, until end
                    of stream (what `pipekit msg recv` does)

Exit status 0 when everything matched; 1 with a message on stderr otherwise.
"""

import os
import sys
from multiprocessing.connection import Connection

_BASE = bytes(i % 251 for i in range(251))


def pattern(size, seed):
    """The same bytes as pattern() in tests/test_channel.cpp: (i + seed) % 251."""
    start = seed % 251
    reps = (size + start) // 251 + 1
    return (_BASE * reps)[start:start + size]


def fail(msg):
    print(f"mp_peer: {msg}", file=sys.stderr)
    sys.exit(1)


def open_ends(argv):
    """Returns (reader, writer, rest of argv)."""
    if argv[0] == "--fd":
        c = Connection(int(argv[1]))
        return c, c, argv[2:]
    if argv[0] == "--env":
        c = Connection(int(os.environ[argv[1]]))
        return c, c, argv[2:]
    if argv[0] == "--rfd" and argv[2] == "--wfd":
        return (Connection(int(argv[1]), writable=False), Connection(int(argv[3]), readable=False), argv[4:])
    if argv[0] in ("--rfifo", "--wfifo"):
        reader = writer = None
        while len(argv) >= 2 and argv[0] in ("--rfifo", "--wfifo"):
            if argv[0] == "--rfifo":
                reader = Connection(os.open(argv[1], os.O_RDONLY), writable=False)
            else:
                writer = Connection(os.open(argv[1], os.O_WRONLY), readable=False)
            argv = argv[2:]
        return reader, writer, argv
    fail(f"bad arguments: {argv}")


def require_end(reader):
    try:
        extra = reader.recv_bytes()
    except EOFError:
        return
    fail(f"expected end of stream, got a message of {len(extra)} bytes")


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    mode = argv[1]
    reader, writer, args = open_ends(argv[2:])
    if mode == "echo":
        while True:
            try:
                msg = reader.recv_bytes()
            except EOFError:
                return 0
            writer.send_bytes(msg)
    if mode == "send":
        for i, size in enumerate(int(a) for a in args):
            writer.send_bytes(pattern(size, i))
        writer.close()
        return 0
    if mode == "expect":
        for i, size in enumerate(int(a) for a in args):
            msg = reader.recv_bytes()
            if msg != pattern(size, i):
                fail(f"message {i}: got {len(msg)} bytes, expected {size} bytes of pattern {i}")
        require_end(reader)
        return 0
    if mode == "swap":
        size = int(args[0])
        writer.send_bytes(pattern(size, 1))
        msg = reader.recv_bytes()
        if msg != pattern(size, 2):
            fail(f"swap: got {len(msg)} bytes, expected {size} bytes of pattern 2")
        return 0
    if mode == "ask":
        for i, size in enumerate(int(a) for a in args):
            writer.send_bytes(pattern(size, i))
            msg = reader.recv_bytes()
            if msg != pattern(size, 100 + i):
                fail(f"answer {i}: got {len(msg)} bytes, expected {size} bytes of pattern {100 + i}")
        writer.close()
        if reader is not writer:
            require_end(reader)
        return 0
    if mode == "print":
        while True:
            try:
                msg = reader.recv_bytes()
            except EOFError:
                sys.stdout.buffer.flush()
                return 0
            sys.stdout.buffer.write(msg + b"\n")
    fail(f"unknown mode {mode}")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
