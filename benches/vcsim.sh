# Sourced by the benchmark scripts: vcsim estates and snaptree profiles for them. The caller
# sets `peers` (the folder scripts/peers.sh prints).

VCSIM_PIDS=()

# vcsim_start FILE PER SNAPSHOT_VMS DEPTH: vcsim in the background with 3 one-host clusters
# of PER VMs each, SNAPSHOT_VMS of them with a DEPTH-deep chain; what it prints goes to FILE.
# With VCSIM_TRACE set, vcsim writes every call it serves to that file; with VCSIM_CPUS set
# (a taskset list), vcsim runs on those CPUs only.
vcsim_start() {
    ${VCSIM_CPUS:+taskset -c "$VCSIM_CPUS"} "$peers/vcsim" -listen 127.0.0.1:0 -cluster 3 -host 1 -standalone-host 0 -vm "$2" \
        -snapshot-vms "$3" -snapshot-depth "$4" ${VCSIM_TRACE:+-trace "$VCSIM_TRACE"} >"$1" 2>/dev/null &
    VCSIM_PIDS+=($!)
}

# vcsim_wait FILE: until the vcsim writing FILE is ready (at most 10 minutes).
vcsim_wait() {
    for _ in $(seq 1 1200); do grep -q '^ready$' "$1" 2>/dev/null && break; sleep 0.5; done
}

# vcsim_url FILE: its SDK URL, with the credentials in it.
vcsim_url() {
    sed -n 's/^url=//p' "$1"
}

# vcsim_profile FILE NAME: the TOML of a snaptree profile NAME for it, its thumbprint pinned.
vcsim_profile() {
    local hostport thumb
    hostport="$(vcsim_url "$1" | sed -E 's#https://[^@]*@([^/]*)/sdk#\1#')"
    thumb="$(sed -n 's/^thumbprint=//p' "$1")"
    printf '[profiles.%s]\nkind = "vsphere"\nurl = "https://%s"\nusername = "user"\npassword = "pass"\nthumbprint = "%s"\n\n' \
        "$2" "$hostport" "$thumb"
}

# vcsim_stop: every vcsim started here.
vcsim_stop() {
    kill "${VCSIM_PIDS[@]}" 2>/dev/null || true
    wait "${VCSIM_PIDS[@]}" 2>/dev/null || true
    VCSIM_PIDS=()
}
