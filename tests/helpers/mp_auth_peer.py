#!/usr/bin/env python3
"""A real Python peer for pipekit's authentication tests: CPython's own
multiprocessing.connection Client and Listener over a Unix socket.

    mp_auth_peer.py client PATH KEY send MSG...   connect, send each MSG, close
    mp_auth_peer.py client PATH KEY recv N        connect, print N messages, one a line
    mp_auth_peer.py listen PATH KEY send MSG...   accept one client, send each MSG, close
    mp_auth_peer.py listen PATH KEY recv N        accept one client, print N messages

KEY is the authkey as text; "-" means no authentication. The listener prints
"listening" on stderr once the socket accepts connections.

Exit status: 0 when everything went through; 3 when multiprocessing raised
AuthenticationError (the message is on stderr); 1 for any other error.
"""

import sys
from multiprocessing.connection import AuthenticationError, Client, Listener


def run(argv):
    role, path, key, mode, args = argv[1], argv[2], argv[3], argv[4], argv[5:]
    authkey = None if key == "-" else key.encode()
    if role == "client":
        conn = Client(path, family="AF_UNIX", authkey=authkey)
    elif role == "listen":
        listener = Listener(path, family="AF_UNIX", authkey=authkey)
        print("listening", file=sys.stderr, flush=True)
        try:
            conn = listener.accept()
        finally:
            listener.close()
    else:
        raise ValueError(f"bad role {role}")
    with conn:
        if mode == "send":
            for m in args:
                conn.send_bytes(m.encode())
        elif mode == "recv":
            for _ in range(int(args[0])):
                sys.stdout.buffer.write(conn.recv_bytes() + b"\n")
            sys.stdout.flush()
        else:
            raise ValueError(f"bad mode {mode}")


def main(argv):
    if len(argv) < 5:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        run(argv)
    except AuthenticationError as e:
        print(f"AuthenticationError: {e}", file=sys.stderr)
        return 3
    except Exception as e:  # noqa: BLE001 - the test reads the message
        print(f"mp_auth_peer: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
