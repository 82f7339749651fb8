#!/usr/bin/env bash
# `snaptree ls --json` against the protocol floor and the peers, on one vcsim, in one run:
#   - snaptree: the whole process (start, login, listing, logout, exit);
#   - govmomi (benches/vsphere_inventory.go, compiled) and pyVmomi (vsphere_inventory.py):
#     the same retrieval, each a whole process;
#   - the floor: curl sending the one RetrievePropertiesEx of the same properties through a
#     container view made beforehand, on a session made beforehand (TLS, one request, the
#     whole answer read), and the floor with layouts: that call and the `layoutEx` call of
#     the VMs with snapshots on the same connection.
# vcsim holds 3×PER VMs (3 clusters), one in ten with a 3-deep chain. Every time is a
# hyperfine median of RUNS. With DELAY_MS, every client reaches vcsim through
# benches/delay_proxy.py (DELAY_MS each way), whose count of turns (round trips) per client
# is printed too. Each client's calls are counted in vcsim's trace.
#
# With SPLIT set, vcsim runs on CPU 0 and every client on CPU 1 (a server that does not share
# its cores with the client, as a real vCenter does not): the client's own work then shows
# as time only where it is not overlapped with the server's.
#
# With BEFORE set to another snaptree binary, it is measured alongside (a change compared
# with what it replaces).
#
#   cargo build --release && bash benches/vsphere_floor.sh target/release/snaptree [PER] [RUNS]
set -euo pipefail
if [ -n "${SPLIT:-}" ] && [ -z "${SPLIT_DONE:-}" ]; then
    export SPLIT_DONE=1 VCSIM_CPUS=0
    exec taskset -c 1 bash "$0" "$@"
fi
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$(realpath "$1")"
per="${2:-1000}"
runs="${3:-7}"
peers="$(bash "$here/scripts/peers.sh" | tail -n 1)"
python="$peers/venv/bin/python3"
command -v hyperfine >/dev/null || { echo "benches/vsphere_floor.sh: needs hyperfine (apt-get install hyperfine)" >&2; exit 1; }
. "$here/benches/vcsim.sh"
out="$(mktemp -d)"
proxy=
trap 'vcsim_stop; [ -n "$proxy" ] && kill $proxy 2>/dev/null; rm -rf "$out"' EXIT
(cd "$here/benches" && GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="$peers/gocache" \
    go build -o "$out/govmomi" vsphere_inventory.go)
VCSIM_TRACE="$out/trace.log" vcsim_start "$out/vcsim.out" "$per" $((per * 3 / 10)) 3
vcsim_wait "$out/vcsim.out"
url="$(vcsim_url "$out/vcsim.out")"
hostport="$(printf '%s\n' "$url" | sed -E 's#https://[^@]*@([^/]*)/sdk#\1#')"
vcsim_profile "$out/vcsim.out" vcsim >"$out/config.toml"
if [ -n "${DELAY_MS:-}" ]; then
    python3 "$here/benches/delay_proxy.py" "$hostport" "$DELAY_MS" "$out/turns" >"$out/proxy.port" &
    proxy=$!
    for _ in $(seq 1 100); do [ -s "$out/proxy.port" ] && break; sleep 0.1; done
    hostport="127.0.0.1:$(cat "$out/proxy.port")"
    url="https://user:pass@$hostport/sdk"
    sed -i "s#^url = .*#url = \"https://$hostport\"#" "$out/config.toml"
fi
export XDG_STATE_HOME="$out/state"
"$bin" --config "$out/config.toml" ls --json >"$out/ls.json"
python3 -c "import json; d=json.load(open('$out/ls.json')); print(len(d['machines']), 'VMs,', sum(m['snapshot_count'] for m in d['machines']), 'snapshots listed')"

# The floor's session, view and request bodies.
soap() { # BODY_FILE OUT_FILE
    curl -sk -b "$out/jar" -c "$out/jar" -H 'Content-Type: text/xml; charset=utf-8' \
        -H 'SOAPAction: "urn:vim25/7.0"' --data-binary @"$1" -o "$2" "https://$hostport/sdk"
}
envelope() { printf '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>%s</soapenv:Body></soapenv:Envelope>' "$1"; }
envelope '<Login xmlns="urn:vim25"><_this type="SessionManager">SessionManager</_this><userName>user</userName><password>pass</password></Login>' >"$out/login.xml"
soap "$out/login.xml" "$out/login.out"
envelope '<CreateContainerView xmlns="urn:vim25"><_this type="ViewManager">ViewManager</_this><container type="Folder">group-d1</container><type>VirtualMachine</type><type>Folder</type><type>Datacenter</type><recursive>true</recursive></CreateContainerView>' >"$out/view.xml"
soap "$out/view.xml" "$out/view.out"
view="$(sed -n 's#.*<returnval type="ContainerView">\([^<]*\)</returnval>.*#\1#p' "$out/view.out")"
[ -n "$view" ] || { echo "no container view: $(cat "$out/view.out")" >&2; exit 1; }
python3 - "$out" "$view" <<'EOF'
import json, sys
out, view = sys.argv[1], sys.argv[2]
paths = ["name", "parent", "runtime.powerState", "runtime.consolidationNeeded",
         "guest.toolsRunningStatus", "config.hardware.memoryMB",
         "capability.snapshotOperationsSupported", "capability.multipleSnapshotsSupported",
         "capability.memorySnapshotsSupported", "capability.quiescedSnapshotsSupported",
         "snapshot", "layoutEx.disk"]
def prop(kind, ps):
    return f"<propSet><type>{kind}</type><all>false</all>" + "".join(f"<pathSet>{p}</pathSet>" for p in ps) + "</propSet>"
def call(spec):
    return ('<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><RetrievePropertiesEx xmlns="urn:vim25">'
            '<_this type="PropertyCollector">propertyCollector</_this><specSet>' + spec +
            '</specSet><options><maxObjects>1000000</maxObjects></options></RetrievePropertiesEx></soapenv:Body></soapenv:Envelope>')
props = (prop("VirtualMachine", paths) + prop("Folder", ["name", "parent"]) + prop("Datacenter", ["name", "parent"]) +
         f'<objectSet><obj type="ContainerView">{view}</obj><skip>true</skip><selectSet xsi:type="TraversalSpec">'
         '<type>ContainerView</type><path>view</path><skip>false</skip></selectSet></objectSet>')
open(f"{out}/props.xml", "w").write(call(props))
ids = [m["id"] for m in json.load(open(f"{out}/ls.json"))["machines"] if m["snapshot_count"] > 0]
layouts = prop("VirtualMachine", ["layoutEx"]) + "".join(
    f'<objectSet><obj type="VirtualMachine">{i}</obj><skip>false</skip></objectSet>' for i in ids) + \
    "<reportMissingObjectsInResults>true</reportMissingObjectsInResults>"
open(f"{out}/layouts.xml", "w").write(call(layouts))
EOF
soap "$out/props.xml" "$out/props.out"
grep -q 'RetrievePropertiesExResponse' "$out/props.out" || { echo "the floor's call failed: $(head -c 500 "$out/props.out")" >&2; exit 1; }
floor="curl -sk -b $out/jar -H 'Content-Type: text/xml; charset=utf-8' -H 'SOAPAction: \"urn:vim25/7.0\"' https://$hostport/sdk"
echo "the floor's answers: $(stat -c %s "$out/props.out") bytes of properties"

# One run of each client, its calls counted in vcsim's trace (and its turns at the proxy).
# vcsim's CPU time so far, in clock ticks.
vcsim_ticks() { awk '{print $14 + $15}' "/proc/${VCSIM_PIDS[0]}/stat"; }
count() { # NAME COMMAND...
    local name="$1" from turns=""
    shift
    # The proxy writes a connection's line when it has ended, its delay after the client
    # closed it: the run before has its lines written before this run's are counted.
    sleep 1
    from=$(stat -c %s "$out/trace.log")
    : >"$out/turns"
    local ticks0 ticks1 self
    ticks0=$(vcsim_ticks)
    self=$( { /usr/bin/time -f '%U %S' "$@" >/dev/null; } 2>&1 | tail -n 1)
    ticks1=$(vcsim_ticks)
    sleep 1
    if [ -n "${DELAY_MS:-}" ]; then
        turns="; $(awk '{c++; t+=$2; up+=$4; down+=$6} END {printf "%d connections, %d turns, %d bytes up, %d down", c, t, up, down}' "$out/turns")"
    fi
    echo "$name: $(python3 "$here/benches/soap_calls.py" "$out/trace.log" "$from")$turns;" \
        "CPU: the client $(echo "$self" | awk '{printf "%d ms", ($1 + $2) * 1000}'), vcsim $(( (ticks1 - ticks0) * 1000 / $(getconf CLK_TCK) )) ms"
}
count "snaptree ls --json" "$bin" --config "$out/config.toml" ls --json
[ -n "${BEFORE:-}" ] && count "snaptree before" "$BEFORE" --config "$out/config.toml" ls --json
count govmomi "$out/govmomi" "$url" 1
count pyVmomi "$python" "$here/benches/vsphere_inventory.py" "$url" 1
count "floor" sh -c "$floor --data-binary @$out/props.xml -o /dev/null"
count "floor with layouts" sh -c "$floor --data-binary @$out/props.xml -o /dev/null --next $floor --data-binary @$out/layouts.xml -o /dev/null"
uptime
hyperfine -N --warmup 1 --runs "$runs" --export-json "$out/times.json" \
    -n "snaptree ls --json" "$bin --config $out/config.toml ls --json" \
    ${BEFORE:+-n "snaptree before" "$BEFORE --config $out/config.toml ls --json"} \
    -n govmomi "$out/govmomi $url 1" \
    -n pyVmomi "$python $here/benches/vsphere_inventory.py $url 1" \
    -n floor "sh -c \"$floor --data-binary @$out/props.xml -o /dev/null\"" \
    -n "floor with layouts" "sh -c \"$floor --data-binary @$out/props.xml -o /dev/null --next $floor --data-binary @$out/layouts.xml -o /dev/null\"" \
    >/dev/null
python3 - "$out/times.json" <<'EOF'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
ls = r["snaptree ls --json"]["median"]
for name, x in r.items():
    line = f"{name}: median {x['median'] * 1000:.0f} ms (min {x['min'] * 1000:.0f}, max {x['max'] * 1000:.0f})"
    if name.startswith("floor"):
        line += f"; snaptree ls --json takes {ls / x['median']:.2f}x this"
    elif name != "snaptree ls --json":
        line += f"; snaptree ls --json is {x['median'] / ls:.2f}x faster"
    print(line)
EOF
uptime
