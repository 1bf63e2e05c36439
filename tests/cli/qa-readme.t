#!/bin/sh
# The README names every Debian package `make deps` (and so CI) installs,
# and no other: its list and the Makefile's DEB_PACKAGES are the same.
. "$(dirname "$0")/../tap.sh"
mk=$(sed -n '/^DEB_PACKAGES *=/,/[^\\]$/p' "$TOP/Makefile" | sed 's/^DEB_PACKAGES *=//; s/\\//' |
     tr -s ' \t' '\n' | grep . | sort | tr '\n' ' ')
rd=$(sed -n '/with sudo unless run as root:/,/\.  `make/p' "$TOP/README.md" | tr '\n' ' ' |
     sed 's/.*run as root: *//; s/\.  `make.*//' | tr -s ' ' '\n' | grep . | sort | tr '\n' ' ')
t "the Makefile lists packages" test -n "$mk"
is "$rd" "$mk" "README's package list is the Makefile's"
done_testing
