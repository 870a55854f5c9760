#!/usr/bin/env bash
# Builds daprdev — daprd, placement and scheduler of the Dapr release e2e/dapr/go.mod pins, in one binary — from the
# Go module proxy, and caches it under $DT_TOOLS_DIR (default ~/.dt) as dapr-<version>/daprdev, keyed by the version
# and a hash of this folder's sources. Cached: returns at once. Prints the binary's path last.
#
# github.com/dapr/durabletask-go v0.12.4, which Dapr v1.18.3 requires, is refused by the module proxy here; the
# shared GOPROXY=file:// directory (../shared/goproxy from the repository root, or $DT_GOPROXY_DIR) serves it, and
# the go command checks it against the hash go.sum pins (the same line as Dapr's own go.sum).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
tools="${DT_TOOLS_DIR:-$HOME/.dt}"
version=$(awk '$1 == "github.com/dapr/dapr" { print $2 }' "$here/go.mod")
[ -n "$version" ] || { echo "provision.sh: no github.com/dapr/dapr requirement in $here/go.mod" >&2; exit 1; }
key=$(cat "$here/go.mod" "$here/go.sum" "$here/main.go" "$0" | sha256sum | cut -c1-16)
dir="$tools/dapr-$version"
binary="$dir/daprdev"

if [ -x "$binary" ] && [ "$(cat "$dir/key" 2>/dev/null)" = "$key" ]; then
  echo "$binary"
  exit 0
fi

goproxy_dir="${DT_GOPROXY_DIR:-$root/../shared/goproxy}"
if [ ! -d "$goproxy_dir/github.com/dapr/durabletask-go" ]; then
  echo "provision.sh: $goproxy_dir does not hold github.com/dapr/durabletask-go (set DT_GOPROXY_DIR)" >&2
  exit 1
fi
goproxy_dir=$(cd "$goproxy_dir" && pwd)

mkdir -p "$dir"
start=$SECONDS
echo "building daprd, placement and scheduler of Dapr $version (cold: several minutes)" >&2
(
  cd "$here"
  GOPROXY="file://$goproxy_dir,$(go env GOPROXY)" GOFLAGS="-mod=readonly -buildvcs=false" \
    go build -trimpath -ldflags "-s -w -X github.com/dapr/dapr/pkg/buildinfo.version=${version#v}" -o "$binary.tmp" .
)
mv "$binary.tmp" "$binary"
echo "$key" > "$dir/key"
echo "built $("$binary" version) in $((SECONDS - start)) s" >&2
echo "$binary"
