#!/usr/bin/env bash
# Builds the fuzz targets with libFuzzer's coverage instrumentation on the stable toolchain (the
# same LLVM passes cargo-fuzz enables, without its nightly-only sanitizers) and runs each for
# SECONDS, seeded with real inputs: Alpine packages, an index and an installed database from
# ../shared/data when present, the profiles, and a manifest basalt writes of a small tree.
#
# Usage: fuzz/run.sh [SECONDS] [TARGET...]     (default 60 seconds, every target)
# Exits 1 when a target crashes; its input is kept as fuzz/artifacts/TARGET/crash-*.
# With nightly and cargo-fuzz, `cargo fuzz run TARGET` runs the same targets with ASan.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(ls fuzz_targets | sed 's/\.rs$//')
fi
triple="$(rustc -vV | awk '/^host:/ {print $2}')"
# --target keeps the instrumentation off build scripts and proc macros.
RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cdebug-assertions -Coverflow-checks" \
    cargo build --release --target "$triple" --target-dir target
bin="target/$triple/release"

shared="${BASALT_SHARED_DATA:-../../shared/data}"
seed() {
    local target="$1"
    local dir="corpus/$target"
    mkdir -p "$dir"
    case "$target" in
    package | pkginfo)
        if [ -d "$shared/alpine/repos/v3.19-boot/x86_64" ]; then
            for apk in $(ls "$shared"/alpine/repos/v3.19-boot/x86_64/*.apk | head -8); do
                if [ "$target" = package ]; then
                    cp "$apk" "$dir/"
                else
                    tar -xzOf "$apk" .PKGINFO >"$dir/$(basename "$apk").PKGINFO" 2>/dev/null || true
                fi
            done
        fi
        ;;
    index)
        if [ -f "$shared/alpine/repos/v3.19-boot/x86_64/APKINDEX.tar.gz" ]; then
            cp "$shared/alpine/repos/v3.19-boot/x86_64/APKINDEX.tar.gz" "$dir/"
        fi
        ;;
    installed)
        local rootfs
        for rootfs in "$shared"/alpine/minirootfs/*.tar.gz; do
            if [ -f "$rootfs" ]; then
                tar -xzOf "$rootfs" ./lib/apk/db/installed >"$dir/installed" 2>/dev/null || true
            fi
        done
        ;;
    profile_parse)
        cp ../profiles/*.toml "$dir/"
        ;;
    boot_inputs)
        local kernel="${BASALT_TEST_KERNEL:-$HOME/.cache/basalt-test/kernel/root}"
        for ko in "$kernel"/lib/modules/*/kernel/fs/ext4/ext4.ko "$kernel"/lib/modules/*/kernel/lib/crc16.ko; do
            [ -f "$ko" ] && cp "$ko" "$dir/"
        done
        [ -f /usr/lib/systemd/boot/efi/linuxx64.efi.stub ] && cp /usr/lib/systemd/boot/efi/linuxx64.efi.stub "$dir/"
        if [ -f "$shared/alpine/repos/v3.19-boot/x86_64/ca-certificates-bundle-20230506-r0.apk" ]; then
            tar -xzOf "$shared/alpine/repos/v3.19-boot/x86_64/ca-certificates-bundle-20230506-r0.apk" \
                etc/ssl/certs/ca-certificates.crt 2>/dev/null | head -c 4000 >"$dir/certs.pem" || true
        fi
        ;;
    manifest)
        local tree
        tree=$(mktemp -d)
        mkdir -p "$tree/etc/sub"
        printf 'x\n' >"$tree/etc/a"
        ln -s ../a "$tree/etc/sub/link"
        (cd .. && cargo run --quiet --release -- manifest "$tree" --out "$PWD/fuzz/$dir/small")
        rm -rf "$tree"
        ;;
    audit_image)
        local tree
        tree=$(mktemp -d)
        mkdir -p "$tree/etc/ssh" "$tree/etc/docker" "$tree/lib/apk/db"
        printf 'root:x:0:0:root:/root:/bin/sh\n' >"$tree/etc/passwd"
        printf 'root:x:0:\ndocker:x:101:alice\n' >"$tree/etc/group"
        printf 'PermitRootLogin no\nPasswordAuthentication no\n' >"$tree/etc/ssh/sshd_config"
        printf '{"icc": false}\n' >"$tree/etc/docker/daemon.json"
        printf 'PRETTY_NAME="Alpine Linux v3.19"\nVERSION_ID=3.19.1\n' >"$tree/etc/os-release"
        printf 'P:busybox\nV:1.36.1-r15\n\n' >"$tree/lib/apk/db/installed"
        tar --sort=name -czf "$dir/small.tar.gz" -C "$tree" .
        rm -rf "$tree"
        ;;
    version)
        printf '1.2.3-r4' >"$dir/plain"
        printf '2.0_rc1_p3-r0' >"$dir/suffixes"
        ;;
    esac
}

failed=()
for target in "${targets[@]}"; do
    seed "$target"
    mkdir -p "artifacts/$target"
    echo "fuzzing $target for ${seconds}s" >&2
    if ! "$bin/$target" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
        -artifact_prefix="artifacts/$target/" "corpus/$target" 2>"artifacts/$target/log"; then
        failed+=("$target")
        tail -30 "artifacts/$target/log" >&2
    fi
    grep -E '^#[0-9]+.*DONE|stat::number_of_executed_units' "artifacts/$target/log" >&2 || true
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "crashed: ${failed[*]}" >&2
    exit 1
fi
echo "no crash in ${#targets[@]} targets (${seconds}s each)" >&2
