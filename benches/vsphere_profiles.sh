#!/usr/bin/env bash
# Many vCenters at once: N vcsims of PER VMs each (3 clusters, one VM in ten with a
# 3-deep chain), one profile each, plus a profile whose server accepts the connection and
# never answers (a stalled vCenter, its `timeout` 10 s). Times `ls --json` of each profile
# alone, of all reachable profiles at once (with its peak RSS and snaptree's own CPU time:
# the rest is the servers'), and of all of them with the stalled one.
#
#   cargo build --release && bash benches/vsphere_profiles.sh target/release/snaptree [N] [PER]
#
# With DELAY_MS set, each vcsim is reached through benches/delay_proxy.py, DELAY_MS each way:
# servers "elsewhere" (a WAN's round trip), as a single machine cannot otherwise show.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$1"
n="${2:-10}"
per="${3:-1000}"
peers="$(bash "$here/scripts/peers.sh" | tail -n 1)"
. "$here/benches/vcsim.sh"
out="$(mktemp -d)"
stalled=
proxies=()
trap 'vcsim_stop; kill $stalled "${proxies[@]}" 2>/dev/null || true; rm -rf "$out"' EXIT
for i in $(seq 1 "$n"); do
    vcsim_start "$out/vcsim$i.out" "$per" $((per * 3 / 10)) 3
done
# The stalled server: accepts, reads, never answers.
python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(64)
print(s.getsockname()[1], flush=True)
held = []
while True:
    c, _ = s.accept(); held.append(c)
' >"$out/stalled.port" &
stalled=$!
for i in $(seq 1 "$n"); do
    vcsim_wait "$out/vcsim$i.out"
done
for _ in $(seq 1 100); do [ -s "$out/stalled.port" ] && break; sleep 0.1; done
: >"$out/config.toml"
for i in $(seq 1 "$n"); do
    profile="$(vcsim_profile "$out/vcsim$i.out" "$(printf 'vc%02d' "$i")")"
    if [ -n "${DELAY_MS:-}" ]; then
        target="$(printf '%s\n' "$profile" | sed -n 's#^url = "https://\(.*\)"#\1#p')"
        python3 "$here/benches/delay_proxy.py" "$target" "$DELAY_MS" >"$out/proxy$i.port" &
        proxies+=($!)
        for _ in $(seq 1 100); do [ -s "$out/proxy$i.port" ] && break; sleep 0.1; done
        profile="$(printf '%s\n' "$profile" | sed "s#^url = .*#url = \"https://127.0.0.1:$(cat "$out/proxy$i.port")\"#")"
    fi
    printf '%s\n\n' "$profile" >>"$out/config.toml"
done
printf '[profiles.stalled]\nkind = "vsphere"\nurl = "https://127.0.0.1:%s"\nusername = "user"\npassword = "pass"\ninsecure = true\ntimeout = "10s"\n' \
    "$(cat "$out/stalled.port")" >>"$out/config.toml"
export XDG_STATE_HOME="$out/state"
ms() { local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s%N); echo $(( (e - s) / 1000000 )); }
slowest=0
for i in $(seq 1 "$n"); do
    p="$(printf 'vc%02d' "$i")"
    "$bin" --config "$out/config.toml" --profile "$p" ls --json >/dev/null # warm the server
    t=$(ms "$bin" --config "$out/config.toml" --profile "$p" ls --json)
    echo "profile $p alone: $t ms"
    [ "$t" -gt "$slowest" ] && slowest=$t
done
args=()
for i in $(seq 1 "$n"); do args+=(--profile "$(printf 'vc%02d' "$i")"); done
# The machine's CPU over that run (every core, every process): near 100 % means the run was
# bound by the cores the servers share with snaptree, not by waiting.
busy() { awk '/^cpu /{print $2+$3+$4+$6+$7+$8, $2+$3+$4+$5+$6+$7+$8}' /proc/stat; }
read -r b0 t0 < <(busy)
all=$(ms "$bin" --config "$out/config.toml" "${args[@]}" ls --json)
read -r b1 t1 < <(busy)
echo "the machine's cores were $(( 100 * (b1 - b0) / (t1 - t0) ))% busy during that run"
/usr/bin/time -f '%M %U %S' -o "$out/rss" "$bin" --config "$out/config.toml" "${args[@]}" ls --json >"$out/all.json" || true
listed="$(python3 -c "import json; print(len(json.load(open('$out/all.json'))['machines']))")"
read -r rss user sys <"$out/rss"
echo "all $n profiles at once: $all ms ($listed VMs, peak RSS $rss KiB, snaptree's CPU ${user}+${sys} s); slowest alone: $slowest ms"
with=$(ms "$bin" --config "$out/config.toml" ls --json)
echo "all $n with the stalled one: $with ms (the stalled profile's timeout is 10 s)"
