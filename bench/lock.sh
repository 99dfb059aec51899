#!/bin/sh
# Times resolution of the Docker host (profiles/docker-host.toml) against the two v3.19
# indexes (main + community, 23,000 packages), two ways, side by side, on the same machine:
#   basalt:  basalt lock profiles/docker-host.toml --repository main --repository community --no-datahash
#            (validate the profile, verify both index signatures, parse, resolve, write the lock)
#   apk:     alpine-apk add --simulate <the profile's packages>   (the same, on an empty root)
# and prints every run and the median of each (RUNS runs, 7 by default): wall-clock time, and
# CPU time (user + system, from /usr/bin/time), which a busy machine disturbs less.
#
#   cargo build --release && bench/lock.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
shared=${BASALT_SHARED_DATA:-$top/../shared/data}
tools=$shared/../tools
basalt=${BASALT:-$top/target/release/basalt}
runs=${RUNS:-7}
profile=$top/profiles/docker-host.toml
# the profile's `install` list, one atom per line between `install = [` and `]`
packages=$(sed -n '/^install = \[/,/^\]/p' "$profile" | sed -n 's/^ *"\([^"]*\)",*$/\1/p')

[ -x "$basalt" ] || { echo "build basalt first: cargo build --release" >&2; exit 2; }
[ -d "$shared/alpine/indexes" ] || { echo "shared data not found at $shared (set BASALT_SHARED_DATA)" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Both tools read the same files, laid out as repositories: REPO/x86_64/APKINDEX.tar.gz.
for repo in main community; do
    mkdir -p "$work/$repo/x86_64"
    ln -s "$shared/alpine/indexes/v3.19-$repo-x86_64.APKINDEX.tar.gz" "$work/$repo/x86_64/APKINDEX.tar.gz"
done
"$tools/alpine-apk-root" "$work/root"

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# timed NAME CMD...: appends "wall cpu" for one run of CMD to $work/NAME.times
timed() {
    name=$1; shift
    /usr/bin/time -f '%e %U %S' -o "$work/t" "$@" >/dev/null
    awk '{ printf "%s %.2f\n", $1, $2 + $3 }' "$work/t" >> "$work/$name.times"
}

: > "$work/basalt.times"
: > "$work/apk.times"
i=0
while [ "$i" -lt "$runs" ]; do
    i=$((i + 1))
    timed basalt "$basalt" lock "$profile" --repository "$work/main" --repository "$work/community" \
        --cache-dir "$work/cache" --output "$work/docker-host.lock" --no-datahash
    timed apk "$tools/alpine-apk" --root "$work/root" --arch x86_64 --no-cache \
        --repository "$work/main" --repository "$work/community" add --simulate $packages
done

echo "packages: $(echo $packages)"
echo "packages locked: $(grep -c '^\[\[package\]\]' "$work/docker-host.lock")"
echo "runs: $runs (wall s, cpu s)"
echo "basalt lock:         $(tr '\n' ' ' < "$work/basalt.times")"
echo "apk add --simulate:  $(tr '\n' ' ' < "$work/apk.times")"
echo "median wall: basalt $(cut -d' ' -f1 "$work/basalt.times" | median) s, apk $(cut -d' ' -f1 "$work/apk.times" | median) s"
echo "median cpu:  basalt $(cut -d' ' -f2 "$work/basalt.times" | median) s, apk $(cut -d' ' -f2 "$work/apk.times" | median) s"
