#!/usr/bin/env bash
# bench bex: complete HIPv2 base exchanges per second on one core, and the
# median latency of one exchange, at puzzle difficulty K=0 and K=10, with
# ECDSA P-256 host identities and ECDH P-256. In process over the sans-IO
# API (proxy-proto/examples/bench_bex.rs): an Initiator and a Responder
# HipHost pass I1, R1, I2, R2 to each other directly, no sockets, no kernel.
# The reference, measured in the same run, is the crypto-only bound: the
# same signatures, verifications, ECDH, KEYMAT derivations, HMACs and puzzle
# hashes one exchange performs, in a loop, no protocol.
#
# Ratio = our rate at K=0 / crypto-only rate (goal >= 0.5).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SECS=${BENCH_SECS:-5}
cd "$ROOT"
cargo build --release -p proxy-proto --example bench_bex
CPU=${BENCH_CPU:-$(($(nproc) - 1))}
echo "== one core (CPU $CPU), ${SECS}s per case, $(nproc) CPUs, $(uname -r)"
taskset -c "$CPU" target/release/examples/bench_bex "$SECS"
