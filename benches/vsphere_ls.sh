#!/usr/bin/env bash
# End to end: `snaptree ls --json` (a release binary, login to exit) against pyVmomi's same
# retrieval, on vcsim with 3,000 VMs (three clusters × 1,000), 300 of them with a 3-level
# chain. Both are timed as whole processes (start, login, retrieval, exit). Reports medians
# of RUNS, snaptree's peak RSS, and pyVmomi's retrieval time inside one process.
#
#   cargo build --release && bash benches/vsphere_ls.sh target/release/snaptree [RUNS]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$1"
runs="${2:-5}"
peers="$(bash "$here/scripts/peers.sh" | tail -n 1)"
python="$peers/venv/bin/python3"
. "$here/benches/vcsim.sh"
out="$(mktemp -d)"
trap 'vcsim_stop; rm -rf "$out"' EXIT
vcsim_start "$out/vcsim.out" 1000 300 3
vcsim_wait "$out/vcsim.out"
url="$(vcsim_url "$out/vcsim.out")"
vcsim_profile "$out/vcsim.out" vcsim >"$out/config.toml"
export XDG_STATE_HOME="$out/state"
"$bin" --config "$out/config.toml" ls --json >"$out/ls.json"
python3 -c "import json,sys; d=json.load(open('$out/ls.json')); print('VMs listed:', len(d['machines']), 'snapshots:', sum(m['snapshot_count'] for m in d['machines']))"
times=()
rss=0
for _ in $(seq 1 "$runs"); do
    start=$(date +%s%N)
    /usr/bin/time -f '%M' -o "$out/rss" "$bin" --config "$out/config.toml" ls --json >/dev/null
    end=$(date +%s%N)
    times+=($(( (end - start) / 1000000 )))
    r=$(cat "$out/rss"); [ "$r" -gt "$rss" ] && rss=$r
done
median() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }
echo "snaptree ls --json: median $(median "${times[@]}") ms over $runs runs (${times[*]}), peak RSS ${rss} KiB"
# The same retrieval in pyVmomi, timed the same way: a whole process, login to exit.
py=()
for _ in $(seq 1 "$runs"); do
    start=$(date +%s%N)
    "$python" "$here/benches/vsphere_inventory.py" "$url" 1 >/dev/null
    end=$(date +%s%N)
    py+=($(( (end - start) / 1000000 )))
done
echo "pyVmomi script: median $(median "${py[@]}") ms over $runs runs (${py[*]})"
# And inside one Python process, the retrieval alone (no interpreter start, no login).
"$python" "$here/benches/vsphere_inventory.py" "$url" "$runs"
