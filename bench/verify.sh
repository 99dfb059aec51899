#!/usr/bin/env bash
# Benchmark of `basalt manifest` and `basalt verify` on a host-sized tree, side by side with the
# integrity tools in use today and with the machine's limits, with a warm or a cold page cache.
# Results go to stdout as a Markdown table: median, minimum and maximum wall time of RUNS runs,
# user and system CPU time of the median run, and the peak resident memory; then every run.
#
# Usage: bench/verify.sh [TREE] [RUNS]
#   TREE defaults to /var/tmp/basalt-bench/usr, created as a copy of /usr when absent (keep it
#   outside the repository).
#   CACHE=warm (default): one warm-up run, then RUNS runs with the tree in the page cache.
#   CACHE=cold: every run starts with an empty page cache (`sync; echo 3 >
#   /proc/sys/vm/drop_caches`, which needs root), as at boot; there is no warm-up run.
#   ONLY=regex limits the rows to those whose name matches (cold default: the limits, basalt
#   and rhash).
#   READERS="2 8 16 32 64": the numbers of readers of the limit rows (cold; warm: the cores).
#   INTERLEAVE=1 (the default when cold): run the rows round by round, one run of each per
#   round, so that the machine's drift over the minutes of a run falls on every row alike;
#   INTERLEAVE=0: each row's runs one after the other (the default when warm).
#   MANIFEST=FILE: verify against this manifest (signed here) instead of one made of TREE.
#   THROTTLE=BYTES (cold only): every timed command runs in a block I/O cgroup that lets it
#   read at most BYTES per second from the tree's disk (cgroup v2 `io.max`, or v1
#   `blkio.throttle.read_bps_device`): a disk-bound machine, where the disk and not the CPUs
#   sets the pace, as on a host with a slower disk than its cores can hash.
#   BUSY_MAX=10: before each run, wait until the machine's CPUs were busy less than this many
#   percent over 5 seconds (other jobs; 100: never wait). The load average is no measure of
#   that: threads waiting for the disk in a cold run count in it. The busy share and the load
#   average before each run are printed with it.
# Needs: rhash, sha256sum, openssl, /usr/bin/time; for the other rows aide, tripwire, mtree
# (NetBSD), hashdeep: a tool that is not installed is reported as such. Every timed command
# must succeed (a verification must find the tree clean): a row whose command fails says so
# instead of a time.
set -euo pipefail
cd "$(dirname "$0")/.."
tree="${1:-/var/tmp/basalt-bench/usr}"
runs="${2:-5}"
cache="${CACHE:-warm}"
busy_max="${BUSY_MAX:-10}"
case "$cache" in
warm) only="${ONLY:-.}" ;;
cold)
    only="${ONLY:-^(read|basalt|rhash)}"
    if [ "$(id -u)" -ne 0 ]; then
        echo "CACHE=cold drops the page cache, which needs root" >&2
        exit 2
    fi
    ;;
*)
    echo "CACHE must be warm or cold" >&2
    exit 2
    ;;
esac
work="$(mktemp -d /tmp/basalt-bench.XXXXXX)"
cgroup=""
cleanup() {
    rm -rf "$work"
    if [ -n "$cgroup" ]; then rmdir "$cgroup" 2>/dev/null || true; fi
}
trap cleanup EXIT

if [ ! -d "$tree" ]; then
    echo "copying /usr to $tree" >&2
    mkdir -p "$(dirname "$tree")"
    cp -a /usr "$tree"
fi
# The statically linked release build, as embedded in images (one build serves both).
basalt="$PWD/$(bash ci/build-static)"
# The limit reader: read (and hash) every listed file with N threads, nothing else.
cargo build --release --quiet --example read_limit
read_limit="$PWD/target/release/examples/read_limit"

find "$tree" -xdev -type f -print0 >"$work/files"
files=$(tr -cd '\0' <"$work/files" | wc -c)
entries=$(find "$tree" -xdev | wc -l)
bytes=$(find "$tree" -xdev -type f -printf '%s\n' | awk '{s+=$1} END {printf "%.0f", s}')
cores=$(nproc)
echo "tree: $tree, $entries entries, $files regular files, $bytes bytes; $cores cores; $cache page cache" >&2

# THROTTLE: a cgroup limiting reads from the disk that holds the tree (the whole disk, whose
# queue the throttle applies to, when the tree is on a partition).
throttle="${THROTTLE:-}"
if [ -n "$throttle" ]; then
    if [ "$cache" != cold ] || ! [[ "$throttle" =~ ^[1-9][0-9]*$ ]]; then
        echo "THROTTLE=BYTES (a number of bytes per second) needs CACHE=cold" >&2
        exit 2
    fi
    disk=$(findmnt -no MAJ:MIN -T "$tree" | tr -d ' ')
    if [ -e "/sys/dev/block/$disk/partition" ]; then
        disk=$(cat "/sys/dev/block/$disk/../dev")
    fi
    if grep -qw io /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
        grep -qw io /sys/fs/cgroup/cgroup.subtree_control || echo +io >/sys/fs/cgroup/cgroup.subtree_control
        cgroup=$(mktemp -d /sys/fs/cgroup/basalt-bench.XXXXXX)
        echo "$disk rbps=$throttle" >"$cgroup/io.max"
    elif [ -d /sys/fs/cgroup/blkio ]; then
        cgroup=$(mktemp -d /sys/fs/cgroup/blkio/basalt-bench.XXXXXX)
        echo "$disk $throttle" >"$cgroup/blkio.throttle.read_bps_device"
    else
        echo "THROTTLE needs the cgroup io (v2) or blkio (v1) controller" >&2
        exit 2
    fi
    echo "throttled: reads from disk $disk at most $throttle bytes/s ($cgroup)" >&2
fi

load() { cut -d' ' -f1 /proc/loadavg; }

# The share (percent) of CPU time the machine spent busy over 5 seconds.
busy() {
    local a b total=0 idle i
    read -r -a a < <(head -1 /proc/stat)
    sleep 5
    read -r -a b < <(head -1 /proc/stat)
    # cpu user nice system idle iowait irq softirq steal
    for i in 1 2 3 4 5 6 7 8; do
        total=$((total + b[i] - a[i]))
    done
    idle=$((b[4] - a[4] + b[5] - a[5]))
    echo $((100 * (total - idle) / (total > 0 ? total : 1)))
}

# Waits until the CPUs are busy less than BUSY_MAX percent (other jobs on the machine); leaves
# the last measure in $busy_now.
busy_now=""
quiet() {
    busy_now=$(busy)
    local waited=0
    while [ "$busy_now" -ge "$busy_max" ]; do
        if [ "$waited" -eq 0 ]; then
            echo "waiting for the CPUs ($busy_now% busy) to be busy less than $busy_max%" >&2
        fi
        waited=1
        sleep 10
        busy_now=$(busy)
    done
}

drop_caches() {
    sync
    echo 3 >/proc/sys/vm/drop_caches
}

declare -A median_of
raw=()

# Rows are measured as they are declared, each RUNS times in a row; or, interleaved
# (INTERLEAVE=1, the default with a cold cache), declared first and then measured round by
# round, one run of every row per round, so that a drift of the machine over the minutes of a
# cold run (the host's own caches, other guests) falls on every row alike and the ratios hold.
interleave="${INTERLEAVE:-}"
if [ -z "$interleave" ]; then
    if [ "$cache" = cold ]; then interleave=1; else interleave=0; fi
fi
plan_kinds=()
plan_names=()
plan_cmds=()

# emit KIND NAME [CMD]: a table line now, or its place in the plan.
emit() {
    if [ "$interleave" = 1 ]; then
        plan_kinds+=("$1")
        plan_names+=("$2")
        plan_cmds+=("${3:-}")
    else
        line_of "$1" "$2"
    fi
}

# line_of KIND NAME: the table line of a section, a text row or a tool that is not installed.
line_of() {
    case "$1" in
    section) echo "| **$2** | | | | | | |" ;;
    text) echo "$2" ;;
    missing) echo "| $2 | not installed | | | | | |" ;;
    esac
}

# run_once NAME CMD...: one timed run (after dropping the page cache when cold); sets $status,
# and on success appends "wall user system maxrss" to $work/rows.NAME's file and the run to
# $runs_shown_of[NAME].
declare -A runs_shown_of=() rows_file_of=()
row_count=0
run_once() {
    local name="$1"
    shift
    quiet
    runs_shown_of["$name"]+="[CPUs $busy_now% busy, load $(load)] "
    [ "$cache" = cold ] && drop_caches
    status=0
    local t0 t1 wall
    t0=$(date +%s%N)
    if [ -n "$cgroup" ]; then
        # The command moves itself into the cgroup, then becomes the timed tool.
        # shellcheck disable=SC2016 # expanded by the inner shell
        set -- bash -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$cgroup" "$@"
    fi
    /usr/bin/time -f '%U %S %M' -o "$work/time" "$@" >"$work/out" 2>&1 || status=$?
    t1=$(date +%s%N)
    if [ "$status" -ne 0 ]; then
        tail -5 "$work/out" >&2
        return
    fi
    # Wall time to the millisecond (time's own is to the hundredth).
    wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
    echo "$wall $(tail -1 "$work/time")" >>"${rows_file_of[$name]}"
    runs_shown_of["$name"]+="$wall s, "
}

# summary NAME: prints "| NAME | median s | min s | max s | user s | system s | peak MiB |" from
# the row's runs and keeps its median and runs.
summary() {
    local name="$1" shown="${runs_shown_of[$1]}" line
    raw+=("$name: ${shown%, }")
    line=$(sort -g "${rows_file_of[$name]}" | awk -v name="$name" '
        { t[NR] = $1; u[NR] = $2; s[NR] = $3; if ($4 > m) m = $4 }
        END {
            k = int((NR + 1) / 2)
            printf "| %s | %.3f | %.3f | %.3f | %.2f | %.2f | %d |\n", name, t[k], t[1], t[NR], u[k], s[k], m / 1024
        }')
    echo "$line"
    median_of["$name"]=$(echo "$line" | awk -F'|' '{gsub(/ /, "", $3); print $3}')
}

# warm_up NAME CMD...: the untimed first run of a warm measure; false (with the row said) if
# the command fails.
warm_up() {
    local name="$1"
    shift
    status=0
    "$@" >"$work/out" 2>&1 || status=$?
    if [ "$status" -ne 0 ]; then
        echo "| $name | failed (exit $status) | | | | | |"
        tail -5 "$work/out" >&2
        return 1
    fi
}

# measure NAME CMD...: RUNS runs of CMD (after a warm-up run, or each after dropping the page
# cache), or its place in the plan when interleaved.
measure() {
    local name="$1"
    shift
    if ! [[ "$name" =~ $only ]]; then
        return
    fi
    if ! command -v "$1" >/dev/null 2>&1 && [ ! -x "$1" ]; then
        emit missing "$name"
        return
    fi
    row_count=$((row_count + 1))
    rows_file_of["$name"]="$work/rows.$row_count"
    : >"${rows_file_of[$name]}"
    if [ "$interleave" = 1 ]; then
        emit run "$name" "$(printf '%q ' "$@")"
        return
    fi
    echo "measuring: $name" >&2
    if [ "$cache" = warm ]; then
        warm_up "$name" "$@" || return 0
    fi
    local i
    for ((i = 0; i < runs; i++)); do
        run_once "$name" "$@"
        if [ "$status" -ne 0 ]; then
            echo "| $name | failed (exit $status) | | | | | |"
            return
        fi
    done
    summary "$name"
}

# run_plan: the interleaved rows, RUNS rounds of one run each, then their table lines in order.
run_plan() {
    [ "$interleave" = 1 ] || return 0
    local j round name
    declare -A failed=()
    if [ "$cache" = warm ]; then
        for j in "${!plan_kinds[@]}"; do
            [ "${plan_kinds[j]}" = run ] || continue
            name="${plan_names[j]}"
            eval "warm_up \"\$name\" ${plan_cmds[j]}" >"$work/failed.$j" || failed["$name"]=1
        done
    fi
    for ((round = 1; round <= runs; round++)); do
        echo "round $round of $runs" >&2
        for j in "${!plan_kinds[@]}"; do
            [ "${plan_kinds[j]}" = run ] || continue
            name="${plan_names[j]}"
            [ -z "${failed[$name]:-}" ] || continue
            eval "run_once \"\$name\" ${plan_cmds[j]}"
            if [ "$status" -ne 0 ]; then
                echo "| $name | failed (exit $status) | | | | | |" >"$work/failed.$j"
                failed["$name"]=1
            fi
        done
    done
    for j in "${!plan_kinds[@]}"; do
        name="${plan_names[j]}"
        if [ "${plan_kinds[j]}" != run ]; then
            line_of "${plan_kinds[j]}" "$name"
        elif [ -n "${failed[$name]:-}" ]; then
            cat "$work/failed.$j"
        else
            summary "$name"
        fi
    done
}

# --- baselines (created once, outside the timings) -------------------------------------------
"$basalt" keygen --out "$work/key" >/dev/null
if [ -n "${MANIFEST:-}" ]; then
    cp "$MANIFEST" "$work/manifest"
else
    "$basalt" manifest "$tree" --out "$work/manifest"
fi
"$basalt" sign --key "$work/key.key" "$work/manifest" 2>/dev/null
if [[ "mtree" =~ $only ]] && command -v mtree >/dev/null; then
    mtree -c -K sha256digest,mode,uid,gid,type,link,size -p "$tree" >"$work/mtree.spec"
fi
if [[ "hashdeep" =~ $only ]] && command -v hashdeep >/dev/null; then
    hashdeep -c sha256 -r -l -o f "$tree" >"$work/hashdeep.known"
fi
if [[ "sha256sum" =~ $only ]]; then
    xargs -0 sha256sum <"$work/files" >"$work/sha256sums"
    split -n l/2 -d "$work/sha256sums" "$work/sha256sums."
fi
# rhash -r follows symlinks: give it the same regular files as the others, one per line. rhash
# reads a backslash in a file name as a path separator, so such names (a few systemd units)
# cannot be given to it at all and are left out of its list.
# shellcheck disable=SC1003 # a backslash, not an escaped quote
tr '\0' '\n' <"$work/files" | grep -v '\\' >"$work/files.txt"
if command -v rhash >/dev/null; then
    rhash --sha256 --file-list="$work/files.txt" -o "$work/rhash.sums"
fi
cat >"$work/aide.conf" <<CONF
database_in=file:$work/aide.db
database_out=file:$work/aide.db.new
report_url=stdout
R = p+u+g+sha256
$tree R
CONF
if [[ "aide" =~ $only ]] && command -v aide >/dev/null; then
    aide --init -c "$work/aide.conf" >/dev/null
    mv "$work/aide.db.new" "$work/aide.db"
fi
tw="$work/tw"
if [[ "tripwire" =~ $only ]] && command -v tripwire >/dev/null; then
    mkdir -p "$tw"
    twadmin --generate-keys --site-keyfile "$tw/site.key" --site-passphrase bench >/dev/null
    twadmin --generate-keys --local-keyfile "$tw/local.key" --local-passphrase bench >/dev/null
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
    # Tripwire has no SHA-256: SHA-1, permissions, owners, type and size are the closest rule.
    printf '%s -> +pugtsS ;\n' "$tree" >"$tw/tw.pol.txt"
    twadmin --create-cfgfile --cfgfile "$tw/tw.cfg" --site-keyfile "$tw/site.key" \
        --site-passphrase bench "$tw/tw.cfg.txt" >/dev/null
    twadmin --create-polfile --cfgfile "$tw/tw.cfg" --site-keyfile "$tw/site.key" \
        --site-passphrase bench "$tw/tw.pol.txt" >/dev/null
    tripwire --init --cfgfile "$tw/tw.cfg" --local-passphrase bench >/dev/null
fi

# --- timings ------------------------------------------------------------------------------------
echo "| tool | median s | min s | max s | user s | system s | peak RSS MiB |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
emit section "the machine's limits"
if [ "$cache" = warm ]; then
    readers="${READERS:-$cores}"
else
    readers="${READERS:-2 8 16 32 64}"
fi
for n in $readers; do
    measure "read every file ($n readers)" "$read_limit" --threads "$n" --input "$work/files"
done
if [ "$cache" = warm ] && [[ "SHA-256 of every byte" =~ $only ]]; then
    rate=$(openssl speed -seconds 3 -bytes 1048576 -evp sha256 2>/dev/null | awk '/^sha256/ {sub(/k$/, "", $NF); print $NF * 1000}')
    emit text "$(awk -v b="$bytes" -v r="$rate" -v c="$cores" \
        'BEGIN { printf "| SHA-256 of every byte on %d cores (openssl: %.2f GB/s per core) | %.2f | | | | | |", c, r / 1e9, b / (r * c) }')"
fi
hash_readers=$cores
[ "$cache" = cold ] && hash_readers=32
measure "read and SHA-256 every file ($hash_readers readers)" "$read_limit" --sha256 --threads "$hash_readers" --input "$work/files"
emit section verify
measure "basalt verify (signature + tree)" "$basalt" verify --manifest "$work/manifest" --key "$work/key.pub" "$tree"
measure "rhash --sha256 -c" rhash --sha256 -c "$work/rhash.sums"
measure "sha256sum -c (two processes)" bash -c "sha256sum --quiet -c '$work/sha256sums.00' & a=\$!; sha256sum --quiet -c '$work/sha256sums.01'; b=\$?; wait \$a && exit \$b"
measure "hashdeep -a (audit)" hashdeep -c sha256 -r -l -o f -a -k "$work/hashdeep.known" "$tree"
measure "mtree -f" mtree -f "$work/mtree.spec" -p "$tree"
measure "aide --check" aide --check -c "$work/aide.conf"
measure "tripwire --check" tripwire --check --cfgfile "$tw/tw.cfg"
emit section "create a baseline"
measure "basalt manifest" "$basalt" manifest "$tree" --out "$work/m2"
measure "rhash --sha256 (create)" rhash --sha256 --file-list="$work/files.txt" -o "$work/rhash.new"
measure "sha256sum (two processes)" bash -c "xargs -0 -P 2 -n 4096 sha256sum <'$work/files' >'$work/sums.new'"
measure "hashdeep -c sha256" hashdeep -c sha256 -r -l -o f "$tree"
measure "mtree -c (sha256digest)" mtree -c -K sha256digest,mode,uid,gid,type,link,size -p "$tree"
measure "aide --init" aide --init -c "$work/aide.conf"
measure "tripwire --init" tripwire --init --cfgfile "$tw/tw.cfg" --local-passphrase bench
run_plan

# --- ratios -------------------------------------------------------------------------------------
echo
limit=""
limit_name=""
if [ "$cache" = cold ]; then
    # The parallel cold-read limit: the fastest of the read rows (many reads in flight).
    for key in "${!median_of[@]}"; do
        if [[ "$key" =~ ^read\ every\ file ]] &&
            { [ -z "$limit" ] || awk -v a="${median_of[$key]}" -v b="$limit" 'BEGIN { exit !(a < b) }'; }; then
            limit="${median_of[$key]}"
            limit_name="$key"
        fi
    done
else
    limit_name="read and SHA-256 every file ($hash_readers readers)"
    limit="${median_of[$limit_name]:-}"
fi
ratio() {
    local x="${median_of[$1]:-}" y="${median_of[$2]:-}"
    if [ -n "$x" ] && [ -n "$y" ]; then
        awk -v a="$x" -v b="$y" -v n1="$1" -v n2="$2" 'BEGIN { printf "- %s / %s: %.2f\n", n1, n2, a / b }'
    fi
}
if [ -n "$limit" ]; then
    median_of["the limit: $limit_name"]="$limit"
    ratio "basalt verify (signature + tree)" "the limit: $limit_name"
    ratio "basalt manifest" "the limit: $limit_name"
fi
ratio "rhash --sha256 -c" "basalt verify (signature + tree)"
ratio "rhash --sha256 (create)" "basalt manifest"
echo
echo "Every run (wall s):"
echo
echo '```'
printf '%s\n' "${raw[@]}"
echo '```'
