"""Read snaptree's report and check outputs with independent parsers, print what they saw.

    report_read.py csv FILE    Python's csv module: {"header": [...], "rows": [[...], ...]}
    report_read.py json FILE   Python's json module, key order kept: {"keys": [[...], ...]}
    report_read.py prom FILE   prometheus_client's text parser:
                               {"family": [{"labels": {...}, "value": v}, ...], ...}
"""

import csv
import json
import sys


def main():
    mode, path = sys.argv[1], sys.argv[2]
    with open(path, newline="", encoding="utf-8") as f:
        text = f.read()
    if mode == "csv":
        rows = list(csv.reader(text.splitlines(keepends=True), strict=True))
        print(json.dumps({"header": rows[0], "rows": rows[1:]}))
    elif mode == "json":
        doc = json.loads(text)
        print(json.dumps({"keys": [list(r.keys()) for r in doc["snapshots"]]}))
    elif mode == "prom":
        from prometheus_client.parser import text_string_to_metric_families

        out = {}
        for family in text_string_to_metric_families(text):
            out[family.name] = [
                {"labels": s.labels, "value": s.value} for s in family.samples
            ]
        print(json.dumps(out))
    else:
        sys.exit(f"unknown mode {mode}")


main()
