#!/usr/bin/env bash
# Benchmark of `basalt manifest` and `basalt verify` on a host-sized tree, side by side with the
# integrity tools in use today and with the machine's limits. Results go to stdout as a
# Markdown table (median wall time of RUNS runs after one warm-up, and peak memory).
#
# Usage: bench/verify.sh [TREE] [RUNS]
#   TREE defaults to /tmp/bench-usr, created as a copy of /usr when absent.
# Needs: aide, tripwire, mtree (NetBSD), hashdeep, rhash, sha256sum, openssl, /usr/bin/time;
# a tool that is not installed is reported as such.
set -euo pipefail
cd "$(dirname "$0")/.."
tree="${1:-/tmp/bench-usr}"
runs="${2:-5}"
work="$(mktemp -d /tmp/basalt-bench.XXXXXX)"
trap 'rm -rf "$work"' EXIT

if [ ! -d "$tree" ]; then
    echo "copying /usr to $tree" >&2
    cp -a /usr "$tree"
fi
# The statically linked release build, as embedded in images (one build serves both).
basalt="$PWD/$(bash ci/build-static)"

files=$(find "$tree" -xdev -type f | wc -l)
entries=$(find "$tree" -xdev | wc -l)
bytes=$(find "$tree" -xdev -type f -printf '%s\n' | awk '{s+=$1} END {print s}')
cores=$(nproc)
echo "tree: $tree, $entries entries, $files regular files, $bytes bytes; $cores cores" >&2

# measure NAME CMD...: warm-up, then RUNS runs; prints "| NAME | median s | min s | peak MiB |".
measure() {
    local name="$1"
    shift
    if ! command -v "$1" >/dev/null 2>&1 && [ ! -x "$1" ]; then
        echo "| $name | not installed | | |"
        return
    fi
    "$@" >/dev/null 2>&1 || true
    local times=() mems=() i
    for ((i = 0; i < runs; i++)); do
        /usr/bin/time -f '%e %M' -o "$work/time" "$@" >/dev/null 2>&1 || true
        read -r t m <"$work/time"
        times+=("$t")
        mems+=("$m")
    done
    local median min peak
    median=$(printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    min=$(printf '%s\n' "${times[@]}" | sort -g | head -1)
    peak=$(printf '%s\n' "${mems[@]}" | sort -g | tail -1)
    printf '| %s | %.2f | %.2f | %d |\n' "$name" "$median" "$min" "$((peak / 1024))"
}

# --- baselines (created once, outside the timings) -------------------------------------------
"$basalt" keygen --out "$work/key" >/dev/null
"$basalt" manifest "$tree" --out "$work/manifest"
"$basalt" sign --key "$work/key.key" "$work/manifest" 2>/dev/null

cat >"$work/aide.conf" <<CONF
database_in=file:$work/aide.db
database_out=file:$work/aide.db.new
report_url=stdout
R = p+u+g+sha256
$tree R
CONF
if command -v aide >/dev/null; then
    aide --init -c "$work/aide.conf" >/dev/null 2>&1 || true
    mv "$work/aide.db.new" "$work/aide.db"
fi
if command -v mtree >/dev/null; then
    mtree -c -K sha256digest,mode,uid,gid,type,link,size -p "$tree" >"$work/mtree.spec"
fi
if command -v hashdeep >/dev/null; then
    hashdeep -c sha256 -r -l "$tree" >"$work/hashdeep.known" 2>/dev/null || true
fi
find "$tree" -xdev -type f -print0 | xargs -0 sha256sum >"$work/sha256sums" 2>/dev/null || true
split -n l/2 -d "$work/sha256sums" "$work/sha256sums."
if command -v rhash >/dev/null; then
    rhash --sha256 -r "$tree" -o "$work/rhash.sums" 2>/dev/null || true
fi
if command -v tripwire >/dev/null; then
    tw="$work/tw"
    mkdir -p "$tw"
    twadmin --generate-keys --site-keyfile "$tw/site.key" --site-passphrase bench -Q bench >/dev/null 2>&1 || true
    twadmin --generate-keys --local-keyfile "$tw/local.key" --local-passphrase bench >/dev/null 2>&1 || true
    cat >"$tw/tw.cfg.txt" <<CONF
ROOT=/usr/sbin
POLFILE=$tw/tw.pol
DBFILE=$tw/tw.twd
REPORTFILE=$tw/report.twr
SITEKEYFILE=$tw/site.key
LOCALKEYFILE=$tw/local.key
EDITOR=/bin/vi
LATEPROMPTING=false
LOOSEDIRECTORYCHECKING=false
MAILNOVIOLATIONS=false
EMAILREPORTLEVEL=3
REPORTLEVEL=3
SYSLOGREPORTING=false
MAILMETHOD=SENDMAIL
MAILPROGRAM=/bin/true
CONF
    # Tripwire has no SHA-256: SHA-1, permissions and owners are the closest rule.
    printf '%s -> +pugtsS ;\n' "$tree" >"$tw/tw.pol.txt"
    twadmin --create-cfgfile --cfgfile "$tw/tw.cfg" --site-keyfile "$tw/site.key" -Q bench "$tw/tw.cfg.txt" >/dev/null 2>&1 || true
    twadmin --create-polfile --cfgfile "$tw/tw.cfg" --site-keyfile "$tw/site.key" -Q bench "$tw/tw.pol.txt" >/dev/null 2>&1 || true
    tripwire --init --cfgfile "$tw/tw.cfg" --local-passphrase bench >/dev/null 2>&1 || true
fi

# --- timings ------------------------------------------------------------------------------------
echo "| tool | median s | min s | peak RSS MiB |"
echo "| --- | ---: | ---: | ---: |"
echo "| **create a baseline** | | | |"
measure "basalt manifest" "$basalt" manifest "$tree" --out "$work/m2"
measure "aide --init (sha256, p, u, g)" aide --init -c "$work/aide.conf"
measure "tripwire --init (sha1, p, u, g, t, s)" tripwire --init --cfgfile "$tw/tw.cfg" --local-passphrase bench
measure "mtree -c (sha256digest)" mtree -c -K sha256digest,mode,uid,gid,type,link,size -p "$tree"
measure "hashdeep -c sha256" hashdeep -c sha256 -r -l "$tree"
measure "rhash --sha256 (create)" rhash --sha256 -r "$tree"
echo "| **verify against it** | | | |"
measure "basalt verify (signature + tree)" "$basalt" verify --manifest "$work/manifest" --key "$work/key.pub" "$tree"
measure "aide --check" aide --check -c "$work/aide.conf"
measure "tripwire --check" tripwire --check --cfgfile "$tw/tw.cfg"
measure "mtree -f" mtree -f "$work/mtree.spec" -p "$tree"
measure "hashdeep -a (audit)" hashdeep -c sha256 -r -l -a -k "$work/hashdeep.known" "$tree"
measure "sha256sum -c (two processes)" bash -c "sha256sum --quiet -c '$work/sha256sums.00' & sha256sum --quiet -c '$work/sha256sums.01'; wait"
measure "rhash --sha256 -c" rhash --sha256 -c "$work/rhash.sums"
echo "| **the machine's limit** | | | |"
measure "read every file ($cores processes)" bash -c "find '$tree' -xdev -type f -print0 | xargs -0 -P $cores -n 256 cat >/dev/null"
rate=$(openssl speed -seconds 3 -bytes 1048576 -evp sha256 2>/dev/null | awk '/^sha256/ {sub(/k$/, "", $2); print $2 * 1000}')
awk -v b="$bytes" -v r="$rate" -v c="$cores" \
    'BEGIN { printf "| SHA-256 of every byte on %d cores (openssl: %.2f GB/s per core) | %.2f | | |\n", c, r / 1e9, b / (r * c) }'
