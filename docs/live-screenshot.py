#!/usr/bin/env python3
"""Screenshot of a page after it has run for a while in real time (docs/live.png).

`chromium --screenshot` shoots as soon as the page has loaded, and its
--virtual-time-budget runs the page's timers faster than the clock, so neither shows
/live after N real seconds of polling. This drives headless Chromium over the
DevTools protocol on a pipe (--remote-debugging-pipe: JSON messages ending in NUL,
commands on fd 3, answers on fd 4), waits, then asks for the screenshot.

    python3 docs/live-screenshot.py http://127.0.0.1:8080/live live.png --wait 40
"""

import argparse
import base64
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import time


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("out")
    parser.add_argument("--wait", type=float, default=40, help="seconds of real time")
    parser.add_argument("--size", default="1000x860", help="WIDTHxHEIGHT")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args()
    width, height = (int(n) for n in args.size.split("x"))

    to_browser_r, to_browser_w = os.pipe()
    from_browser_r, from_browser_w = os.pipe()
    profile = tempfile.mkdtemp(prefix="live-shot-")

    def child_fds():
        # The protocol's fixed places: the browser reads fd 3 and writes fd 4. Both
        # ends are first copied above 4, so that neither dup2 overwrites the other.
        read_end = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)
        write_end = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
        os.dup2(read_end, 3)
        os.dup2(write_end, 4)

    browser = subprocess.Popen(
        [args.chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--hide-scrollbars", f"--window-size={width},{height}",
         f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank"],
        close_fds=False, preexec_fn=child_fds,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(to_browser_r)
    os.close(from_browser_w)
    pending = b""
    next_id = 0

    def call(method, session=None, **params):
        nonlocal pending, next_id
        next_id += 1
        message = {"id": next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(to_browser_w, json.dumps(message).encode() + b"\0")
        while True:  # skip events until our answer
            while b"\0" not in pending:
                chunk = os.read(from_browser_r, 1 << 20)
                if not chunk:
                    raise SystemExit("chromium closed the pipe")
                pending += chunk
            raw, pending = pending.split(b"\0", 1)
            answer = json.loads(raw)
            if answer.get("id") == next_id:
                if "error" in answer:
                    raise SystemExit(f"{method}: {answer['error']}")
                return answer["result"]

    try:
        target = call("Target.createTarget", url="about:blank")
        session = call("Target.attachToTarget", targetId=target["targetId"],
                       flatten=True)["sessionId"]
        call("Emulation.setDeviceMetricsOverride", session, width=width, height=height,
             deviceScaleFactor=1, mobile=False)
        call("Page.navigate", session, url=args.url)
        time.sleep(args.wait)
        shot = call("Page.captureScreenshot", session, format="png")
        with open(args.out, "wb") as out:
            out.write(base64.b64decode(shot["data"]))
        call("Browser.close")
    finally:
        try:
            browser.wait(timeout=10)
        except subprocess.TimeoutExpired:
            browser.kill()
            browser.wait()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    main()
