#!/usr/bin/env bash
# How `basalt manifest` and `basalt verify` use memory as files grow and as entries multiply:
# peak resident memory (`/usr/bin/time`'s maximum RSS) on trees of one file of growing size,
# and of a growing number of small files. Prints a Markdown table.
#
# Usage: bench/verify-memory.sh [SCRATCH]   (SCRATCH defaults to /var/tmp; a fresh directory in
# it needs about 4 GiB free, and a few million inodes for the tree of 1,000,000 files)
# COUNTS="1000 10000 100000 1000000" sets the numbers of small files (1000 to a directory).
set -euo pipefail
cd "$(dirname "$0")/.."
scratch="$(mktemp -d "${1:-/var/tmp}/basalt-memory.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT
basalt="$PWD/$(bash ci/build-static)"
"$basalt" keygen --out "$scratch/key" >/dev/null

# peak TREE: prints "manifest bytes | manifest MiB | verify MiB" for TREE (verify must find it
# clean).
peak() {
    local tree="$1" m v
    /usr/bin/time -f '%M' -o "$scratch/t" "$basalt" manifest "$tree" --out "$scratch/manifest"
    m=$(tail -1 "$scratch/t")
    "$basalt" sign --key "$scratch/key.key" "$scratch/manifest" 2>/dev/null
    /usr/bin/time -f '%M' -o "$scratch/t" "$basalt" verify --manifest "$scratch/manifest" \
        --key "$scratch/key.pub" "$tree" >/dev/null
    v=$(tail -1 "$scratch/t")
    printf '%d | %d | %d' "$(stat -c %s "$scratch/manifest")" "$((m / 1024))" "$((v / 1024))"
}

echo "| tree | entries | bytes | manifest bytes | manifest peak RSS MiB | verify peak RSS MiB |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
for mib in 1 256 1024 4096; do
    tree="$scratch/one-$mib"
    mkdir -p "$tree"
    head -c "$((mib * 1048576))" /dev/urandom >"$tree/file"
    echo "| one file of $mib MiB | 2 | $((mib * 1048576)) | $(peak "$tree") |"
    rm -rf "$tree"
done
for count in ${COUNTS:-1000 10000 100000 1000000}; do
    tree="$scratch/many-$count"
    mkdir -p "$tree"
    # count small files, 1000 to a directory
    for ((d = 0; d < count / 1000; d++)); do
        mkdir -p "$tree/d$d"
        head -c 1024 /dev/urandom >"$tree/d$d/seed"
        for ((f = 1; f < 1000; f++)); do
            printf '%d' "$f" >"$tree/d$d/f$f"
        done
    done
    entries=$(find "$tree" | wc -l)
    bytes=$(find "$tree" -type f -printf '%s\n' | awk '{s += $1} END {print s}')
    echo "| $count small files | $entries | $bytes | $(peak "$tree") |"
    rm -rf "$tree"
done
