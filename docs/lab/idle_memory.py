#!/usr/bin/env python3
"""Open N keep-alive connections, each sends one GET /hello; report server VmRSS before/after.
usage: python3 docs/lab/idle_memory.py PID PORT N   (the server's pid, its port, connections)"""
import socket, sys, time, select
pid, port, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1])
def threads():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("Threads"):
            return int(line.split()[1])
# one request on a closed connection first, so lazy start-up allocations are counted in "before"
s = socket.create_connection(("127.0.0.1", port)); s.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); s.recv(4096); s.close()
time.sleep(0.5)
before = rss(); tb = threads()
socks = []
for i in range(n):
    c = socket.create_connection(("127.0.0.1", port))
    c.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
    socks.append(c)
answered = 0
deadline = time.time() + 5
byfd = {c.fileno(): c for c in socks}
poller = select.poll()
for fd in byfd: poller.register(fd, select.POLLIN)
while byfd and time.time() < deadline:
    for fd, ev in poller.poll(200):
        if byfd[fd].recv(4096):
            answered += 1
        poller.unregister(fd); del byfd[fd]
time.sleep(1.0)
after = rss(); ta = threads()
print(f"connections {n}, answered {answered}, VmRSS {before} kB -> {after} kB, "
      f"{(after-before)/n:.2f} KiB per connection, threads {tb} -> {ta}")
for c in socks: c.close()
