#!/usr/bin/env bash
# Inventory load benchmark against vcsim: 3,000 VMs (1,000 in each of three clusters' pools),
# 300 of them with a 3-level snapshot chain. Compares snaptree's vSphere provider with pyVmomi
# doing the same retrieval, and reports each one's peak memory.
#
#   bash benches/vsphere_inventory.sh [RUNS]
#
# Needs: GNU time; vcsim and pyVmomi come from scripts/peers.sh (run here).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
runs="${1:-5}"
peers="$(bash "$here/scripts/peers.sh" | tail -n 1)"
vcsim="$peers/vcsim"
python="$peers/venv/bin/python3"
out="$(mktemp -d)"
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$out"' EXIT

# One datacenter with three one-host clusters; vcsim puts -vm VMs in each root pool: 3,000.
"$vcsim" -listen 127.0.0.1:0 -cluster 3 -host 1 -standalone-host 0 -vm 1000 \
    -snapshot-vms 300 -snapshot-depth 3 >"$out/vcsim.out" 2>/dev/null &
pid=$!
for _ in $(seq 1 600); do grep -q '^ready$' "$out/vcsim.out" 2>/dev/null && break; sleep 0.5; done
url="$(sed -n 's/^url=//p' "$out/vcsim.out")"
echo "vcsim: $url"

cd "$here"
# Build first so the timed run measures only the load.
cargo test --test it --no-run >/dev/null 2>&1
bin="$(cargo test --test it --no-run --message-format=json 2>/dev/null \
    | sed -n 's/.*"executable":"\([^"]*\/it-[^"]*\)".*/\1/p' | tail -n 1)"

SNAPTREE_BENCH_URL="$url" SNAPTREE_BENCH_RUNS="$runs" /usr/bin/time -v \
    "$bin" --ignored --exact vsphere_vcsim::bench_inventory --nocapture 2>"$out/snaptree.time" | grep '^snaptree:' || true
echo "snaptree peak RSS: $(sed -n 's/.*Maximum resident set size (kbytes): //p' "$out/snaptree.time") KiB"

/usr/bin/time -v "$python" "$here/benches/vsphere_inventory.py" "$url" "$runs" 2>"$out/pyvmomi.time"
echo "pyvmomi peak RSS: $(sed -n 's/.*Maximum resident set size (kbytes): //p' "$out/pyvmomi.time") KiB"
