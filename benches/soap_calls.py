#!/usr/bin/env python3
"""The SOAP calls in a vcsim trace (tests/vcsim/main.go -trace FILE), from byte OFFSET on:
how many, by method, and in order. Benchmarks count each client's round trips with it.

    python3 benches/soap_calls.py TRACE [OFFSET]
"""
import collections
import re
import sys

with open(sys.argv[1], "rb") as f:
    f.seek(int(sys.argv[2]) if len(sys.argv) > 2 else 0)
    data = f.read()
names = [n.decode() for n in re.findall(
    rb"Request: <\?xml[^>]*>\s*<[^>]*Envelope[^>]*>(?:\s*<[^>]*Header.*?</[^>]*Header>)?\s*<[^>]*Body[^>]*>\s*<([A-Za-z]+)",
    data, re.S)]
counts = collections.Counter(names)
print(f"{len(names)} calls (" + ", ".join(f"{k} {v}" for k, v in counts.most_common()) + "): " + " ".join(names))
