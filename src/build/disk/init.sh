#!/bin/sh
# /init of a basalt disk's initramfs (busybox sh). It sets up dm-verity over the root
# partition with the root hash of the kernel command line (roothash=HEX), mounts the verified
# root read-only, mounts the state volumes by label (formatting a blank GPT partition named
# like the label, and nothing else), puts tmpfs on the ephemeral paths, and hands over to
# OpenRC. Settings: /etc/basalt/disk.conf, written by `basalt build`.

export PATH=/sbin:/bin

say() {
	echo "basalt-init: $*"
}

# Stops the boot: the reason stays on the console and nothing else starts.
halt_boot() {
	say "BOOT STOPPED: $*"
	mkdir -p /run/basalt
	echo "$*" >>/run/basalt/boot-failed
	while :; do
		sleep 3600
	done
}

mount -t proc -o nosuid,nodev,noexec proc /proc
mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
mount -t devtmpfs -o nosuid,mode=0755 devtmpfs /dev
mount -t tmpfs -o nosuid,nodev,mode=0755 tmpfs /run
mkdir -p /run/basalt

roothash=
for arg in $(cat /proc/cmdline); do
	case "$arg" in
	roothash=*) roothash="${arg#roothash=}" ;;
	esac
done
[ -n "$roothash" ] || halt_boot "no roothash= on the kernel command line"

mode=enforce
while read -r kind a rest; do
	case "$kind" in
	mode) mode="$a" ;;
	module) modprobe "$a" || say "ERROR: module $a did not load" ;;
	try-module) modprobe "$a" 2>/dev/null ;;
	esac
done </etc/basalt/disk.conf

say "verifying the root partition with dm-verity (root hash $roothash, $mode)"
basalt initramfs verity --root-hash "$roothash" --mode "$mode" --name root
case $? in
0) ;;
1) halt_boot "the root partition does not match its root hash (dm-verity); it was changed after it was built" ;;
*) halt_boot "dm-verity could not be set up over the root partition" ;;
esac
mount -t squashfs -o ro /dev/mapper/root /newroot ||
	halt_boot "cannot mount the verified root filesystem"
say "root filesystem mounted read-only from /dev/mapper/root ($mode)"

# The image's own mkfs runs inside the new root, which needs the kernel's filesystems.
for fs in dev proc sys; do
	mount --bind "/$fs" "/newroot/$fs"
done

# state PATH DEVICE FSTYPE OPTIONS
state_volume() {
	path=$1 device=$2 fstype=$3 options=$4
	dev=
	case "$device" in
	/dev/*) [ -b "$device" ] && dev=$device ;;
	*) dev=$(findfs "$device" 2>/dev/null) ;;
	esac
	if [ -z "$dev" ]; then
		case "$device" in
		LABEL=*)
			label=${device#LABEL=}
			dev=$(basalt initramfs blank --label "$label")
			case $? in
			0)
				say "formatting the blank partition $dev (GPT name $label) as $fstype for $path"
				chroot /newroot "/sbin/mkfs.$fstype" -q -L "$label" "$dev" || {
					say "ERROR: cannot format $dev for $path"
					echo "$device $path" >>/run/basalt/state-missing
					return
				}
				;;
			1)
				say "ERROR: the partition named $label holds data but no $device filesystem: it is not formatted, and $path has no state volume"
				echo "$device $path" >>/run/basalt/state-missing
				return
				;;
			*) dev= ;;
			esac
			;;
		esac
	fi
	if [ -z "$dev" ]; then
		say "ERROR: state volume $device for $path not found"
		echo "$device $path" >>/run/basalt/state-missing
		return
	fi
	if mount -t "$fstype" -o "$options" "$dev" "/newroot$path"; then
		say "state volume $device ($dev) mounted on $path"
	else
		say "ERROR: cannot mount $dev on $path"
		echo "$device $path" >>/run/basalt/state-missing
	fi
}

# ephemeral PATH MODE UID GID
ephemeral() {
	[ "$1" = /run ] && return
	mount -t tmpfs -o "nosuid,nodev,mode=$2,uid=$3,gid=$4" tmpfs "/newroot$1" ||
		say "ERROR: cannot mount tmpfs on $1"
}

while read -r kind a b c d; do
	case "$kind" in
	state) state_volume "$a" "$b" "$c" "$d" ;;
	esac
done </etc/basalt/disk.conf
while read -r kind a b c d; do
	case "$kind" in
	ephemeral) ephemeral "$a" "$b" "$c" "$d" ;;
	mutable)
		# A file that may change on the read-only root: a writable copy bound over it.
		if [ -f "/newroot$a" ] && [ ! -L "/newroot$a" ]; then
			mkdir -p "/run/basalt/mutable${a%/*}"
			cp -p "/newroot$a" "/run/basalt/mutable$a" &&
				mount --bind "/run/basalt/mutable$a" "/newroot$a" ||
				say "ERROR: cannot make $a writable"
		fi
		;;
	manifest)
		# The signed manifest names the root hash, so it cannot live in the root it describes:
		# it comes with this initramfs (inside the signed UKI) and covers the root's empty
		# files of the same paths, read-only.
		for file in "$a" "$b"; do
			mount --bind "$file" "/newroot$file" && mount -o remount,bind,ro "/newroot$file" ||
				say "ERROR: cannot put $file in place"
		done
		;;
	esac
done </etc/basalt/disk.conf

for fs in dev proc sys; do
	umount "/newroot/$fs"
done
for fs in dev proc sys run; do
	mount --move "/$fs" "/newroot/$fs" || halt_boot "cannot move /$fs into the root"
done
exec switch_root /newroot /sbin/init
