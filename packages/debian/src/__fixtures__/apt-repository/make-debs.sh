#!/bin/sh
# Rebuilds the tiny .debs of this directory (run from anywhere; needs dpkg-deb). They are small on purpose:
# three packages, one depending on another, one arch-specific with a lib* source, so that a repository written
# from them exercises dependency resolution, arch:all fan-out and the libX pool prefix.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export SOURCE_DATE_EPOCH=1700000000
build() { # name version arch control-extra
  dir="$work/$1"
  mkdir -p "$dir/DEBIAN" "$dir/usr/share/doc/$1"
  printf '%s %s\n' "$1" "$2" > "$dir/usr/share/doc/$1/README"
  {
    printf 'Package: %s\nVersion: %s\nArchitecture: %s\nMaintainer: Bootc Test <bootc-test@example.org>\n' "$1" "$2" "$3"
    printf '%b' "$4"
    printf 'Installed-Size: 1\nSection: misc\nPriority: optional\nDescription: test package %s\n A package for repository tests.\n .\n Second paragraph.\n' "$1"
  } > "$dir/DEBIAN/control"
  dpkg-deb --root-owner-group -Zxz --build "$dir" "$here/debs/$1_$2_$3.deb" >/dev/null
}
build bootc-demo 1.0-1 all 'Depends: bootc-demo-data (>= 1.0)\nHomepage: https://example.org/bootc-demo\n'
build bootc-demo-data 1.0 all 'Multi-Arch: foreign\n'
build libbootc-demo1 1.0-1 amd64 'Source: libbootc-demo (1.0-1)\nMulti-Arch: same\n'
