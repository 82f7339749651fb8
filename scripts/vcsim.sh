#!/usr/bin/env bash
# Build the vcsim used by the vSphere tests and benchmarks from tests/vcsim/main.go, with Go
# and Debian's packaged govmomi (`bash scripts/peers.sh` installs both, then calls this).
# Prints the binary's path on its last line.
#
#   bash scripts/vcsim.sh     # builds ${SNAPTREE_VCSIM:-${SNAPTREE_PEERS:-~/.cache/snaptree-peers}/vcsim}
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
peers="${SNAPTREE_PEERS:-$HOME/.cache/snaptree-peers}"
out="${SNAPTREE_VCSIM:-$peers/vcsim}"
src="$here/tests/vcsim/main.go"
govmomi=/usr/share/gocode/src/github.com/vmware/govmomi

if ! command -v go >/dev/null || [ ! -d "$govmomi" ]; then
    echo "scripts/vcsim.sh: Go and govmomi are missing: run \`bash scripts/peers.sh\`" >&2
    exit 1
fi

# Rebuild only when the source changed (the build takes ~30 s on 2 cores).
if [ ! -x "$out" ] || [ "$src" -nt "$out" ]; then
    mkdir -p "$(dirname "$out")"
    (cd "$here/tests/vcsim" && GO111MODULE=off GOPATH=/usr/share/gocode \
        GOCACHE="${GOCACHE:-$peers/gocache}" go build -o "$out" main.go)
fi
echo "$out"
