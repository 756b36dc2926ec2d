#!/bin/bash
# libFuzzer over Berth's parsers (Dockerfile + .dockerignore, tar, references, API/image JSON,
# query values and detach keys, HTTP request heads through NIO's decoder and every query parser)
# for a bounded time each: `tests/fuzz/run.sh [seconds per target]`. Starts from the committed
# corpus (Tests/BerthFuzzTests/Corpus/<target>, replayed by the unit tests too); what the run
# discovers stays in a scratch directory; a crash leaves its reproducer under
# .build-fuzz/findings/ and fails the run. Prints the number of inputs executed per target.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_PER_TARGET=${1:-${BERTH_FUZZ_SECONDS:-30}}
# AddressSanitizer over everything, C included (NIO's llhttp, Berth's C shims, the libarchive
# calls' buffers): an overflow there is found, not just the traps Swift checks itself.
swift build --product berth-fuzz --scratch-path .build-fuzz --sanitize=address -Xswiftc -sanitize=fuzzer -Xswiftc -DBERTH_LIBFUZZER \
  -Xswiftc -Xclang-linker -Xswiftc -fuse-ld=lld 2>&1 | tail -n 3
fuzzer=.build-fuzz/debug/berth-fuzz
mkdir -p .build-fuzz/findings
status=0
total=0
counts=""
for target in dockerfile tar reference json query extract auth http; do
  scratch=$(mktemp -d /tmp/berth-fuzz-$target.XXXXXX)
  log=.build-fuzz/findings/$target.log
  # -rss_limit_mb: a parser that balloons on small input is a finding too
  if BERTH_FUZZ_TARGET=$target $fuzzer "$scratch" "Tests/BerthFuzzTests/Corpus/$target" -max_total_time="$SECONDS_PER_TARGET" \
      -max_len=65536 -rss_limit_mb=2048 -timeout=10 -artifact_prefix=.build-fuzz/findings/$target- -print_final_stats=1 >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    echo "fuzz $target: $runs inputs, no crash"
    total=$((total + ${runs:-0}))
    counts="$counts $target=${runs:-0}"
  else
    echo "fuzz $target: FAILED (reproducer and log under .build-fuzz/findings/)"; tail -n 30 "$log"
    status=1
  fi
  rm -rf "$scratch"
done
echo "fuzz: $total inputs in all"
# the figure the README quotes, per target, from this run
mkdir -p tests/results
{ printf '{\n "seconds_per_target": %s,\n "sanitizers": ["fuzzer", "address"],\n "inputs": {' "$SECONDS_PER_TARGET"
  sep=""; for entry in $counts; do printf '%s\n  "%s": %s' "$sep" "${entry%%=*}" "${entry#*=}"; sep=","; done
  printf '\n },\n "total": %s,\n "crashed": %s\n}\n' "$total" "$([ "$status" = 0 ] && echo false || echo true)"; } > tests/results/fuzz.json
exit $status
