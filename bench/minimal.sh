#!/bin/sh
# Times the minimal build two ways, side by side, on the same machine:
#   basalt:  basalt build tests/data/profiles/alpine-3.19-offline.toml --repository <v3.19-boot> --offline
#   apk:     an empty apk root, `apk add --no-scripts` of the same packages, then
#            `tar --sort=name | gzip` of the result (what a reproducible image needs at least)
# and prints every run and the median of each (RUNS runs, 7 by default).
#
#   cargo build --release && bench/minimal.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
shared=${BASALT_SHARED_DATA:-$top/../shared/data}
tools=$shared/../tools
repo=$shared/alpine/repos/v3.19-boot
basalt=${BASALT:-$top/target/release/basalt}
runs=${RUNS:-7}
packages="alpine-base openssh-server chrony"

[ -x "$basalt" ] || { echo "build basalt first: cargo build --release" >&2; exit 2; }
[ -d "$repo" ] || { echo "shared data not found at $shared (set BASALT_SHARED_DATA)" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export SOURCE_DATE_EPOCH=1700000000

now() { date +%s.%N; }
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

"$tools/alpine-apk" --version >/dev/null   # unpack the reference apk once, outside the timing

: > "$work/basalt.times"
: > "$work/apk.times"
i=0
while [ "$i" -lt "$runs" ]; do
    i=$((i + 1))
    out="$work/out.$i"
    start=$(now)
    "$basalt" build "$top/tests/data/profiles/alpine-3.19-offline.toml" --repository "$repo" --offline \
        --cache-dir "$work/cache" --out "$out" >/dev/null
    end=$(now)
    echo "$end - $start" | bc >> "$work/basalt.times"

    ref="$work/ref.$i"
    start=$(now)
    "$tools/alpine-apk-root" "$ref"
    "$tools/alpine-apk" --root "$ref" --repository "$repo" --no-scripts --no-cache \
        add $packages >/dev/null
    tar --sort=name --numeric-owner --mtime=@"$SOURCE_DATE_EPOCH" -C "$ref" -cf - . \
        | gzip -6n > "$work/ref.$i.tar.gz"
    end=$(now)
    echo "$end - $start" | bc >> "$work/apk.times"
    rm -rf "$out" "$ref" "$work/ref.$i.tar.gz"
done

echo "runs: $runs"
echo "basalt build (s):            $(tr '\n' ' ' < "$work/basalt.times")"
echo "apk add + tar | gzip (s):    $(tr '\n' ' ' < "$work/apk.times")"
echo "median basalt build:         $(median < "$work/basalt.times") s"
echo "median apk add + tar | gzip: $(median < "$work/apk.times") s"
