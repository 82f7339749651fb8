#!/usr/bin/env bash
# A hostile vSphere server whose listing answer is padded to SIZE MiB (snaptree's own
# simulator, `sim vsphere --pad-listings-mb`): each BINARY's `snaptree ls` as a whole
# process, its wall time, peak RSS, exit code and last line. The simulator is served by
# the first binary. Give two binaries to compare a change with what it replaces.
#
#   cargo build --release && bash benches/vsphere_big_answer.sh 200 target/release/snaptree [OTHER_BINARY]
set -euo pipefail
size="$1"
shift
out="$(mktemp -d)"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$1" sim vsphere --listen "127.0.0.1:$port" --pad-listings-mb "$size" >"$out/sim.out" 2>&1 &
sim=$!
trap 'kill $sim 2>/dev/null; rm -rf "$out"' EXIT
for _ in $(seq 100); do
    grep -q '^thumbprint' "$out/sim.out" 2>/dev/null && break
    sleep 0.1
done
sed -n '/^\[profiles/,/^thumbprint/p' "$out/sim.out" >"$out/config.toml"
export XDG_STATE_HOME="$out/state"
for bin in "$@"; do
    for _ in 1 2 3; do
        start=$(date +%s%N)
        set +e
        /usr/bin/time -f '%M' -o "$out/rss" "$bin" --config "$out/config.toml" ls >"$out/ls.out" 2>"$out/ls.err"
        code=$?
        set -e
        end=$(date +%s%N)
        last="$(tail -n 1 "$out/ls.err" | cut -c1-140)"
        [ "$code" = 0 ] && last="$(wc -l <"$out/ls.out") lines listed"
        echo "$bin: exit $code, $(( (end - start) / 1000000 )) ms, peak RSS $(tail -n 1 "$out/rss") KiB: $last"
    done
done
