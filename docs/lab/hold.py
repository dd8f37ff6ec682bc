"""Open N keep-alive connections, make one request on each, then hold them idle.

Usage: python3 docs/lab/hold.py N SECONDS [PORT]

While they are held, look at the server with ps and /proc (see docs/lab.md). The
server closes an idle keep-alive connection after --idle-timeout (15 s by default),
so hold them for less than that.
"""
import socket
import sys
import time

n, seconds = int(sys.argv[1]), float(sys.argv[2])
port = int(sys.argv[3]) if len(sys.argv) > 3 else 8080
held = []
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"GET /hello HTTP/1.1\r\nHost: lab\r\n\r\n")
    s.recv(4096)  # the whole 153-byte answer arrives in one piece on loopback
    held.append(s)
print(f"holding {len(held)} idle connections for {seconds:g} s", flush=True)
time.sleep(seconds)
