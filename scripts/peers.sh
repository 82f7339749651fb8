#!/usr/bin/env bash
# Install the peers the tests talk to, each once:
#   - tmux, Go and govmomi, Python's venv, OpenSSH's server and client: Debian packages
#     (through sudo when not root);
#   - vcsim, built from tests/vcsim/main.go (scripts/vcsim.sh);
#   - python-ovh, pyVmomi, prometheus-client and proxmoxer, in a virtual environment (never the
#     system Python).
# Everything goes to ${SNAPTREE_PEERS:-~/.cache/snaptree-peers}, whose path is printed on
# the last line. A second run checks and returns within seconds.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
peers="${SNAPTREE_PEERS:-$HOME/.cache/snaptree-peers}"
mkdir -p "$peers"

# The Python peers, pinned to the versions the tests were last run with.
python_peers=(ovh==1.2.0 pyvmomi==9.1.1.0 prometheus-client==0.26.0 proxmoxer==2.3.0)

as_root() {
    if [ "$(id -u)" = 0 ]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        echo "scripts/peers.sh: installing Debian packages needs root; run it as root or install sudo" >&2
        exit 1
    fi
}

debian=()
command -v tmux >/dev/null || debian+=(tmux)
# The guest agent check's tests: a loopback sshd, and the ssh client snaptree runs.
[ -x /usr/sbin/sshd ] || debian+=(openssh-server)
{ command -v ssh && command -v ssh-keygen; } >/dev/null || debian+=(openssh-client)
command -v go >/dev/null || debian+=(golang-go)
[ -d /usr/share/gocode/src/github.com/vmware/govmomi ] || debian+=(golang-github-vmware-govmomi-dev)
python3 -c 'import venv, ensurepip' 2>/dev/null || debian+=(python3-venv)
# The Debian package (scripts/deb.sh): dpkg-deb and dpkg-shlibdeps.
command -v dpkg-shlibdeps >/dev/null || debian+=(dpkg-dev)
if [ ${#debian[@]} -gt 0 ]; then
    echo "peers: Debian packages ${debian[*]}" >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${debian[@]}" >/dev/null
fi

echo "peers: vcsim" >&2
SNAPTREE_PEERS="$peers" SNAPTREE_VCSIM="$peers/vcsim" bash "$here/scripts/vcsim.sh" >/dev/null

venv="$peers/venv"
installed="$("$venv/bin/python3" -m pip freeze 2>/dev/null | tr "_" "-" || true)"
missing=0
for p in "${python_peers[@]}"; do
    grep -qix -- "$p" <<<"$installed" || missing=1
done
if [ "$missing" = 1 ]; then
    echo "peers: ${python_peers[*]} in $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/python3" -m pip install --quiet --disable-pip-version-check "${python_peers[@]}"
fi
echo "$peers"
