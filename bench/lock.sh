#!/bin/sh
# Times resolution of the full Docker host against the two v3.19 indexes (main + community,
# 23,000 packages), two ways, side by side, on the same machine:
#   basalt:  basalt lock docker-host.toml            (verify both index signatures, parse,
#                                                      resolve, write the lock)
#   apk:     alpine-apk add --simulate <packages>    (the same, on an empty root)
# and prints every run and the median of each (RUNS runs, 7 by default).
#
#   cargo build --release && bench/lock.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
shared=${BASALT_SHARED_DATA:-$top/../shared/data}
tools=$shared/../tools
basalt=${BASALT:-$top/target/release/basalt}
runs=${RUNS:-7}
packages="docker containerd openrc openssh-server chrony nftables iptables audit syslog-ng"

[ -x "$basalt" ] || { echo "build basalt first: cargo build --release" >&2; exit 2; }
[ -d "$shared/alpine/indexes" ] || { echo "shared data not found at $shared (set BASALT_SHARED_DATA)" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Both tools read the same files, laid out as repositories: REPO/x86_64/APKINDEX.tar.gz.
for repo in main community; do
    mkdir -p "$work/$repo/x86_64"
    ln -s "$shared/alpine/indexes/v3.19-$repo-x86_64.APKINDEX.tar.gz" "$work/$repo/x86_64/APKINDEX.tar.gz"
done
list=$(printf '"%s", ' $packages)
cat > "$work/docker-host.toml" <<TOML
[image]
name = "docker-host"
version = "1.0.0"
arch = "x86_64"

[repositories]
urls = ["$work/main", "$work/community"]

[packages]
install = [${list%, }]
TOML
"$tools/alpine-apk-root" "$work/root"

now() { date +%s.%N; }
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

: > "$work/basalt.times"
: > "$work/apk.times"
i=0
while [ "$i" -lt "$runs" ]; do
    i=$((i + 1))
    start=$(now)
    "$basalt" lock "$work/docker-host.toml" --cache-dir "$work/cache" >/dev/null
    end=$(now)
    echo "$end - $start" | bc >> "$work/basalt.times"

    start=$(now)
    "$tools/alpine-apk" --root "$work/root" --arch x86_64 --no-cache \
        --repository "$work/main" --repository "$work/community" \
        add --simulate $packages >/dev/null
    end=$(now)
    echo "$end - $start" | bc >> "$work/apk.times"
done

echo "packages locked: $(grep -c '^\[\[package\]\]' "$work/docker-host.lock")"
echo "runs: $runs"
echo "basalt lock (s):            $(tr '\n' ' ' < "$work/basalt.times")"
echo "apk add --simulate (s):     $(tr '\n' ' ' < "$work/apk.times")"
echo "median basalt lock:         $(median < "$work/basalt.times") s"
echo "median apk add --simulate:  $(median < "$work/apk.times") s"
