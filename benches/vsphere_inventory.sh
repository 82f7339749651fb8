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
python="$peers/venv/bin/python3"
. "$here/benches/vcsim.sh"
out="$(mktemp -d)"
trap 'vcsim_stop; rm -rf "$out"' EXIT

# One datacenter with three one-host clusters; vcsim puts -vm VMs in each root pool: 3,000.
vcsim_start "$out/vcsim.out" 1000 300 3
vcsim_wait "$out/vcsim.out"
url="$(vcsim_url "$out/vcsim.out")"
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
