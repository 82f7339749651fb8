#!/usr/bin/env bash
# Memory and time of `snaptree ls --json` as the estate grows (the scale issue's table):
# vcsim with 3 clusters of N VMs each (one VM in ten with a 3-deep snapshot chain), each
# BINARY run 3 times as a whole process; prints wall time, peak RSS and what was listed.
# Give two binaries to compare a change with what it replaces.
#
#   cargo build --release && bash benches/vsphere_memory.sh "1500 4500 13500" target/release/snaptree [OTHER_BINARY]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
sizes="$1"
shift
peers="$(bash "$here/scripts/peers.sh" | tail -n 1)"
for per in $sizes; do
    out="$(mktemp -d)"
    "$peers/vcsim" -listen 127.0.0.1:0 -cluster 3 -host 1 -standalone-host 0 -vm "$per" \
        -snapshot-vms $((per * 3 / 10)) -snapshot-depth 3 >"$out/vcsim.out" 2>/dev/null &
    pid=$!
    for _ in $(seq 1 1200); do grep -q '^ready$' "$out/vcsim.out" 2>/dev/null && break; sleep 0.5; done
    url="$(sed -n 's/^url=//p' "$out/vcsim.out")"
    thumb="$(sed -n 's/^thumbprint=//p' "$out/vcsim.out")"
    hostport="$(echo "$url" | sed -E 's#https://[^@]*@([^/]*)/sdk#\1#')"
    printf '[profiles.vcsim]\nkind = "vsphere"\nurl = "https://%s"\nusername = "user"\npassword = "pass"\nthumbprint = "%s"\n' \
        "$hostport" "$thumb" >"$out/config.toml"
    export XDG_STATE_HOME="$out/state"
    for bin in "$@"; do
        for _ in 1 2 3; do
            start=$(date +%s%N)
            /usr/bin/time -f '%M' -o "$out/rss" "$bin" --config "$out/config.toml" ls --json >"$out/ls.json"
            end=$(date +%s%N)
            listed="$(python3 -c "import json; d=json.load(open('$out/ls.json')); print(len(d['machines']), 'VMs,', sum(m['snapshot_count'] for m in d['machines']), 'snapshots')")"
            echo "$bin: $listed: $(( (end - start) / 1000000 )) ms, peak RSS $(cat "$out/rss") KiB"
        done
    done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -rf "$out"
done
