#!/usr/bin/env python3
"""Time from starting snaptree's TUI in a pseudo-terminal to its first frame, and to the
first machine rows on screen (10 runs each, 100x30).

Usage: python3 benches/first_frame.py PATH/TO/snaptree [ARGS...]
  ARGS default to `demo`; e.g. `--config vcsim.toml` times a large estate on vcsim. The
  first rows are the first frame that shows ROW_MARK (default `_VM`, vcsim's VM names;
  `web` for the demo).
"""
import os, pty, time, sys, select, statistics
import fcntl, termios, struct

binary = sys.argv[1]
args = sys.argv[2:] or ["demo"]
mark = os.environ.get("ROW_MARK", "web" if args == ["demo"] else "_VM").encode()
frames, rows = [], []
for _ in range(10):
    t0 = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:
        os.environ.setdefault("XDG_STATE_HOME", "/tmp/ffstate")
        os.environ["COLUMNS"] = "100"
        os.environ["LINES"] = "30"
        os.execv(binary, [binary] + args)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    buf = b""
    first = shown = None
    while True:
        r, _, _ = select.select([fd], [], [], 30)
        if not r:
            break
        try:
            data = os.read(fd, 65536)
        except OSError:
            break
        buf += data
        if first is None and b"Inventory" in buf:
            first = time.perf_counter() - t0
        if first is not None and shown is None and mark in buf:
            shown = time.perf_counter() - t0
            os.write(fd, b"q")
        if shown is not None and b"\x1b[?1049l" in buf:
            break
    os.waitpid(pid, 0)
    frames.append(first)
    rows.append(shown)
def say(what, xs):
    xs = [x for x in xs if x is not None]
    print("%s ms: median %.1f, max %.1f over %d runs" % (what, statistics.median(xs) * 1000, max(xs) * 1000, len(xs)))
say("first frame", frames)
say("first rows", rows)
