#!/usr/bin/env bash
# A short, bounded libFuzzer run of every parser target (make fuzz with
# FUZZ_SECONDS, 20 by default): no crash, leak, undefined behaviour or broken
# invariant. Longer runs for developers: make fuzz-long.
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
source "$(dirname "$0")/../lib/common.sh"

need_cmd clang make
make -s -C "$TESTS_ROOT" fuzz FUZZ_SECONDS="${FUZZ_SECONDS:-20}"
echo "all fuzz targets ran clean"
