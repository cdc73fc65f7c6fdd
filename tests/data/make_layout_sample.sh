#!/usr/bin/env bash
# Regenerates tests/data/published_layout_sample/: a synthetic sample of the published directory
# layout (GNU parallel job logs `results.csv` and `<Seq>/logs.csv`, chain domain), made from this
# project's own runs. See tests/data/README.md.
#
# 1. Runs 6 explicit and 6 implicit chain configurations (implicit jobs 3 and 6 diverge) with
#    `imprl sweep`, one store per configuration, and exports each with
#    `imprl export --format published`.
# 2. Assembles the exported jobs into two job logs with the run ids 000000000001 (explicit) and
#    000000000002 (implicit) and gives them the quirks of GNU parallel job logs that the reader
#    must handle: numbers spelled as the shell wrote them (`.25000000000000000000`, `4`, `0.`),
#    records in completion order rather than Seq order, quoted multi-line Stdout/Stderr fields,
#    host names, start times and runtimes (all invented here: fixed values, so the sample is the
#    same on every regeneration), and, in the diverged run's log, a few `inf` rows between the
#    last finite evaluation and the empty ones.
#
# The logs.csv values are this build's own results: regenerating with another version of imprl
# may change them, and then the expected values in tests/compare_layout.rs and
# src/published_layout.rs (unit test) must follow.
#
# Usage: tests/data/make_layout_sample.sh [path/to/imprl]   (default: target/release/imprl)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
imprl="${1:-$root/target/release/imprl}"
out="$root/tests/data/published_layout_sample"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# seq|param|eta|lr|offset|seed|lr as written|offset as written|host|start offset (ms)|runtime (s)
configs='
1|explicit|0.9|4|0.6|101|4|0.6|:|3|2.914
2|explicit|0.975|0.5|0.2|102|.50000000000000000000|0.2|:|7|2.877
3|explicit|0.8|0.25|0.3|103|.25000000000000000000|0.3|:|9|2.861
4|explicit|0.95|2|1|104|2|1|:|12|2.803
5|explicit|0.8|0.5|0.7|105|.50000000000000000000|0.7|:|16|2.890
6|explicit|0.9|1|0.4|106|1|0.4|:|19|2.958
1|implicit|0.975|0.00390625|0.9|201|.00390625000000000000|0.9|bench-a|2|3.412
2|implicit|0.9|0.0625|0.2|202|.06250000000000000000|0.2|bench-b|5|3.377
3|implicit|0.95|0.25|0.6|203|.25000000000000000000|0.6|bench-a|8|1.205
4|implicit|0.8|0.0078125|0|204|.00781250000000000000|0.|bench-b|11|3.391
5|implicit|0.8|0.015625|0.5|205|.01562500000000000000|0.5|bench-a|14|3.350
6|implicit|0.975|0.03125|1|206|.03125000000000000000|1|bench-b|18|3.468
'

echo "$configs" | while IFS='|' read -r seq param eta lr offset seed _; do
    [ -n "$seq" ] || continue
    d="$work/$param-$seq"
    mkdir -p "$d"
    cat > "$d/grid.toml" <<TOML
domain = "chain"
param = "$param"
eta = $eta
lr = $lr
offset = $offset
seed = $seed
steps = 300
batch_size = 25
eval_every = 10
TOML
    "$imprl" sweep --config "$d/grid.toml" --out "$d/store" --jobs 1 --progress quiet >/dev/null 2>&1
    "$imprl" export --results "$d/store" --format published --out "$d/published" >/dev/null 2>&1
done

rm -rf "$out"
CONFIGS="$configs" WORK="$work" OUT="$out" python3 - <<'PY'
import csv, io, os

work, out = os.environ["WORK"], os.environ["OUT"]
run_ids = {"explicit": "000000000001", "implicit": "000000000002"}
# Invented start of each job log (Unix time, s).
starts = {"explicit": 1600000000.000, "implicit": 1600000600.000}
INF_ROWS = 3  # `inf` rows written between a diverged run's last finite row and its empty rows

jobs = {"explicit": [], "implicit": []}
for line in os.environ["CONFIGS"].strip().splitlines():
    seq, param, eta, lr, offset, seed, lr_s, off_s, host, start_ms, runtime = line.split("|")
    src = os.path.join(work, f"{param}-{seq}", "published", "chain_rollout", param, "imprl")
    with open(os.path.join(src, "results.csv"), newline="") as f:
        (rec,) = list(csv.DictReader(f))
    run_dir = os.path.join(out, "chain_rollout", param, run_ids[param])
    result_dir = f"results/chain_rollout/{param}/{run_ids[param]}/{seq}/"
    # The job's own log, with `inf` rows after the last finite one when it diverged.
    with open(os.path.join(src, "1", "logs.csv"), newline="") as f:
        rows = list(csv.reader(f))
    diverged = rec["Stderr"] != ""
    if diverged:
        first_empty = next(i for i, r in enumerate(rows) if i > 0 and r[1] == "")
        for r in rows[first_empty:first_empty + INF_ROWS]:
            r[1:] = ["inf"] * (len(r) - 1)
    os.makedirs(os.path.join(run_dir, seq))
    with open(os.path.join(run_dir, seq, "logs.csv"), "w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)
    command = (
        f"taskset -c $(({seq} - 1 )) imprl run --domain chain --param {param}"
        f" --seed {seed} --lr {lr_s} --batch-size 25 --eta {eta} --offset {off_s}"
        f" --steps 300 --eval-every 10 --out {result_dir}logs.csv"
    )
    stdout = (
        f"Using result dir: {result_dir}\n"
        f"chain, {param}, eta={eta}, lr={lr_s}, offset={off_s}, seed={seed}\n"
        f"31 evaluations written to {result_dir}logs.csv\n"
    )
    stderr = f"note: job {seq} pinned to cpu {int(seq) - 1}\n" + rec["Stderr"]
    jobs[param].append({
        "Seq": seq,
        "Host": host,
        "Starttime": f"{starts[param] + int(start_ms) / 1000:.3f}",
        "JobRuntime": runtime,
        "Send": "0",
        "Receive": str(len(stdout.encode())),
        "Exitval": "0",
        "Signal": "0",
        "Command": command,
        "SEED": seed,
        "LEARNING_RATE": lr_s,
        "BATCH_SIZE": "25",
        "MDP_MODULE_DISCOUNT": eta,
        "REWARD_OFFSET": off_s,
        "USE_BIAS": "False",
        "Stdout": stdout,
        "Stderr": stderr,
    })

header = ["Seq", "Host", "Starttime", "JobRuntime", "Send", "Receive", "Exitval", "Signal",
          "Command", "SEED", "LEARNING_RATE", "BATCH_SIZE", "MDP_MODULE_DISCOUNT",
          "REWARD_OFFSET", "USE_BIAS", "Stdout", "Stderr"]
for param, recs in jobs.items():
    # GNU parallel appends a record when its job ends: completion order, not Seq order.
    recs.sort(key=lambda r: float(r["Starttime"]) + float(r["JobRuntime"]))
    path = os.path.join(out, "chain_rollout", param, run_ids[param], "results.csv")
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=header, lineterminator="\n")
        w.writeheader()
        w.writerows(recs)
PY
echo "wrote $out"
