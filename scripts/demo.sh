#!/bin/sh
# make demo: run the bundled demo guest (filled in as features land).
set -e
cd "$(dirname "$0")/.."
exec ./lkvm run -k tests/guests/hello
