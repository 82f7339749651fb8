#!/usr/bin/env python3
"""Time from starting `snaptree demo` in a pseudo-terminal to its first frame (10 runs).

Usage: python3 benches/first_frame.py PATH/TO/snaptree
"""
import os, pty, time, sys, select, statistics
binary = sys.argv[1]
res = []
for _ in range(10):
    t0 = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:
        os.environ["XDG_STATE_HOME"] = "/tmp/ffstate"
        os.environ["COLUMNS"]="100"; os.environ["LINES"]="30"
        os.execv(binary, [binary, "demo"])
    import fcntl, termios, struct
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    buf = b""
    first = None
    while True:
        r, _, _ = select.select([fd], [], [], 5)
        if not r: break
        try: data = os.read(fd, 65536)
        except OSError: break
        buf += data
        if first is None and b"Inventory" in buf:
            first = time.perf_counter() - t0
            os.write(fd, b"q")
        if first is not None and b"\x1b[?1049l" in buf:
            break
    os.waitpid(pid, 0)
    res.append(first)
print("first frame ms: median %.1f, max %.1f over %d runs" % (statistics.median(res)*1000, max(res)*1000, len(res)))
