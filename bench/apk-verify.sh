#!/usr/bin/env bash
# Package and index verification: basalt (release build) against the real apk-tools, on the
# shared Alpine data. Prints the median wall time of RUNS runs (default 7) for each case.
#
#   bench/apk-verify.sh [RUNS]
#
# Needs ../shared/data (or $BASALT_SHARED_DATA) and ../shared/tools/alpine-apk.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-7}
data=${BASALT_SHARED_DATA:-../shared/data}
apk="$data/../tools/alpine-apk"
keys="$data/alpine/keys"
boot="$data/alpine/repos/v3.19-boot/x86_64"
main_index="$data/alpine/indexes/v3.19-main-x86_64.APKINDEX.tar.gz"
community_index="$data/alpine/indexes/v3.19-community-x86_64.APKINDEX.tar.gz"
[ -d "$boot" ] || { echo "bench: shared data not found at $data" >&2; exit 2; }

cargo build --release --locked --quiet
basalt=target/release/basalt
"$apk" --version >/dev/null # unpack the reference apk once, outside the timings

# Each case must succeed (every file verified), or the benchmark stops.
basalt_each() { for f in "$boot"/*.apk; do "$basalt" apk inspect "$f" >/dev/null; done; }
apk_each() { for f in "$boot"/*.apk; do "$apk" --keys-dir "$keys" verify "$f" >/dev/null; done; }
apk_all() { "$apk" --keys-dir "$keys" verify "$boot"/*.apk >/dev/null; }
basalt_index() { "$basalt" apk index "$1" >/dev/null; }
apk_index() { "$apk" --keys-dir "$keys" verify "$1" >/dev/null; }

median_ms() {
    local times=() start end
    for _ in $(seq "$runs"); do
        start=$(date +%s%N)
        "$@"
        end=$(date +%s%N)
        times+=($(((end - start) / 1000000)))
    done
    printf '%s\n' "${times[@]}" | sort -n | awk '{ t[NR] = $1 } END { print t[int((NR + 1) / 2)] }'
}

row() { printf '| %s | %s ms | %s ms |\n' "$1" "$2" "$3"; }

echo "median of $runs runs, $(nproc) CPUs, $(date -u +%Y-%m-%d)"
echo
echo "| case | basalt | apk-tools 2.14.4 |"
echo "| --- | --- | --- |"
row "100 boot packages, one process per package" "$(median_ms basalt_each)" "$(median_ms apk_each)"
row "100 boot packages, apk in one process" "-" "$(median_ms apk_all)"
row "v3.19 main index (5,443 packages)" "$(median_ms basalt_index "$main_index")" "$(median_ms apk_index "$main_index")"
row "v3.19 community index (17,587 packages)" "$(median_ms basalt_index "$community_index")" "$(median_ms apk_index "$community_index")"
