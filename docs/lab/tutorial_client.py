"""The course's threaded client, in Python: N threads, one GET each, three prints.

Usage: python3 docs/lab/tutorial_client.py [--clients N] [--atomic] [--path P] [--port PORT]

Each thread opens its own connection, sends one request carrying its own
X-Request-Id, and prints Status, Reason and Content with three print() calls.
Other threads' lines can land between those three calls: that is the mix-up the
course saw. Each thread then checks that the server echoed *its* id. With
--atomic the three lines are written with one call and stay together.
"""
import argparse
import http.client
import sys
import threading

args = argparse.ArgumentParser()
args.add_argument("--clients", type=int, default=5)
args.add_argument("--atomic", action="store_true")
args.add_argument("--path", default="/hello")
args.add_argument("--port", type=int, default=8080)
args = args.parse_args()

start = threading.Barrier(args.clients)  # all threads send at the same moment
matched = []


def client(i):
    my_id = f"client-{i}"
    start.wait()
    conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=30)
    conn.request("GET", args.path, headers={"X-Request-Id": my_id, "Connection": "close"})
    r = conn.getresponse()
    body = r.read().decode().strip()
    lines = [f"[client {i}] Status: {r.status}",
             f"[client {i}] Reason: {r.reason}",
             f"[client {i}] Content: {body}"]
    if args.atomic:
        sys.stdout.write("\n".join(lines) + "\n")  # one write: the lines stay together
    else:
        for line in lines:
            print(line)  # three writes: another thread may print in between
    matched.append(r.getheader("X-Request-Id") == my_id)


threads = [threading.Thread(target=client, args=(i,)) for i in range(1, args.clients + 1)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(f"responses: {len(matched)}, each matched its own request: {sum(matched)}")
