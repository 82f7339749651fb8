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
. "$here/benches/vcsim.sh"
trap vcsim_stop EXIT
for per in $sizes; do
    out="$(mktemp -d)"
    vcsim_start "$out/vcsim.out" "$per" $((per * 3 / 10)) 3
    vcsim_wait "$out/vcsim.out"
    vcsim_profile "$out/vcsim.out" vcsim >"$out/config.toml"
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
    vcsim_stop
    rm -rf "$out"
done
