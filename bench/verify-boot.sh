#!/usr/bin/env bash
# The check a host pays for at each boot: `basalt verify` of the minimal image's root against
# the image's own signed manifest (its runtime policy included), with an empty page cache, beside
# the parallel cold-read limit of the same tree and rhash. Builds the offline minimal profile
# (tests/data/profiles/alpine-3.19-offline.toml) from the shared Alpine repository, extracts
# the image as root (owners, modes and attributes kept) to DEST/root, then runs
# bench/verify.sh on it with CACHE=cold.
#
# Usage: bench/verify-boot.sh [DEST] [RUNS]   (DEST defaults to /var/tmp/basalt-bench/minimal,
# RUNS to 9; needs root and ../shared/data, or BASALT_SHARED_DATA)
set -euo pipefail
cd "$(dirname "$0")/.."
dest="${1:-/var/tmp/basalt-bench/minimal}"
runs="${2:-9}"
shared="${BASALT_SHARED_DATA:-$PWD/../shared/data}"
repo="$shared/alpine/repos/v3.19-boot"
[ -d "$repo" ] || { echo "shared data not found at $shared (set BASALT_SHARED_DATA)" >&2; exit 2; }
basalt="$PWD/$(bash ci/build-static)"
rm -rf "$dest"
mkdir -p "$dest/out" "$dest/root"
SOURCE_DATE_EPOCH=1700000000 "$basalt" build tests/data/profiles/alpine-3.19-offline.toml --repository "$repo" \
    --offline --cache-dir "$dest/cache" --out "$dest/out" >/dev/null
image=$(ls "$dest"/out/*.tar.gz)
tar --numeric-owner --xattrs --xattrs-include='*' -xpzf "$image" -C "$dest/root"
echo "image: $image" >&2
CACHE=cold MANIFEST="$(ls "$dest"/out/*.manifest)" ONLY="${ONLY:-^(read|basalt verify|rhash --sha256 -c)}" \
    bench/verify.sh "$dest/root" "$runs"
