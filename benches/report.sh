#!/usr/bin/env bash
# End to end: `snaptree report --format csv` against `snaptree ls --json` on the same vcsim
# estate (a release binary, each a whole process from start to exit): the report's cost
# should be the listing's plus the writing, its memory bounded (rows are written one at a
# time). Default: 30,000 VMs (three clusters × 10,000), 25,000 with a 4-level chain, so
# 100,000 snapshots. Prints medians of RUNS and the peak RSS of each.
#
#   cargo build --release && bash benches/report.sh target/release/snaptree [RUNS] [VMS_PER_CLUSTER] [SNAPSHOT_VMS]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$1"
runs="${2:-3}"
per_cluster="${3:-10000}"
snapshot_vms="${4:-25000}"
peers="$(bash "$here/scripts/peers.sh" | tail -n 1)"
. "$here/benches/vcsim.sh"
out="$(mktemp -d)"
trap 'vcsim_stop; rm -rf "$out"' EXIT
vcsim_start "$out/vcsim.out" "$per_cluster" "$snapshot_vms" 4
vcsim_wait "$out/vcsim.out"
vcsim_profile "$out/vcsim.out" vcsim >"$out/config.toml"
export XDG_STATE_HOME="$out/state"
"$bin" --config "$out/config.toml" report --format csv >"$out/report.csv"
echo "report rows: $(( $(python3 -c "import csv; print(sum(1 for _ in csv.reader(open('$out/report.csv', newline=''))))") - 1 ))"
median() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }
measure() {
    local name="$1"; shift
    local times=() rss=0
    for _ in $(seq 1 "$runs"); do
        local start end r
        start=$(date +%s%N)
        /usr/bin/time -f '%M' -o "$out/rss" "$bin" --config "$out/config.toml" "$@" >/dev/null
        end=$(date +%s%N)
        times+=($(( (end - start) / 1000000 )))
        r=$(cat "$out/rss"); [ "$r" -gt "$rss" ] && rss=$r
    done
    echo "$name: median $(median "${times[@]}") ms over $runs runs (${times[*]}), peak RSS ${rss} KiB"
}
measure "ls --json" ls --json
measure "report --format csv" report --format csv
measure "report --json" report --json
