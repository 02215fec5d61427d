#!/usr/bin/env bash
# Instructions per message of the codec benchmarks, counted by callgrind: unlike wall time,
# this does not depend on what else the machine is running.
#
#   openflow/benches/instructions.sh            # all four: flow_mod and group_mod, encode and decode
#   openflow/benches/instructions.sh flow_mod/decode
#
# For each benchmark it runs criterion's profiling mode under callgrind and divides the
# instructions spent inside criterion's timed loop (`Bencher::iter`, inclusive) by the number
# of iterations (calls of `Message::decode` or `Message::encode_into` from it). "routine" is
# the codec call alone, "drop" the freeing of the decoded message (inside the timed loop too),
# "loop" everything the benchmark times. Needs valgrind (`apt-get install valgrind`).
set -euo pipefail
cd "$(dirname "$0")/../.."

benches=("$@")
[ ${#benches[@]} -gt 0 ] || benches=(flow_mod/encode flow_mod/decode group_mod/encode group_mod/decode)

bin=$(cargo bench -p openflow --bench codec --no-run --message-format=json 2>/dev/null |
    sed -n 's/.*"executable":"\([^"]*codec-[^"]*\)".*/\1/p' | tail -n 1)
[ -x "$bin" ] || { echo "bench binary not found" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "valgrind not installed" >&2; exit 1; }

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
printf '%-18s %10s %8s %8s %8s\n' benchmark iterations routine drop loop
for b in "${benches[@]}"; do
    case "$b" in
        */decode) fn='Message::decode' ;;
        */encode) fn='Message::encode_into' ;;
        *) echo "unknown benchmark $b" >&2; exit 1 ;;
    esac
    out="$dir/cg.out"
    valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" --bench "$b" --profile-time 2 \
        >"$dir/log" 2>&1
    callgrind_annotate --inclusive=yes --tree=calling "$out" 2>/dev/null | awk -v f="$fn" -v b="$b" '
        /\*  \?\?\?:criterion::bencher::Bencher<M>::iter / { inloop = 1; n = $1; gsub(",", "", n); total = n; next }
        inloop && /^ *$/ { inloop = 0 }
        inloop && />   / {
            n = $1; gsub(",", "", n)
            c = $0; sub(/.*\(/, "", c); sub(/x\).*/, "", c); gsub(",", "", c)
            if (index($0, f " (")) { calls = c; routine = n }
            else if (index($0, "drop_in_place")) { drop = n }
        }
        END {
            if (calls == 0) { print b ": routine not found in the profile" > "/dev/stderr"; exit 1 }
            printf "%-18s %10d %8.0f %8.0f %8.0f\n", b, calls, routine / calls, drop / calls, total / calls
        }'
done
