#!/usr/bin/env bash
# The README's Slurm recipe (section "Shards", "Slurm") on a real, throwaway, single-node Slurm
# cluster: the sbatch script is taken from the README itself, adapted only by substitution (the
# shard count, the CPUs of one task, a small grid in place of the published one), submitted as an
# array of 4 shards, merged by the README's dependent job and by its merge command; the merged
# store's tidy CSV must equal, byte for byte, that of one unsharded sweep of the same grid.
#
# Run as root on one machine, after `cargo build --release`, with Debian's `slurmctld slurmd
# munge` installed (this script installs nothing). It starts its own munged (as the `munge` user,
# on a fresh key), slurmctld and slurmd (as root), all with files under one temporary directory,
# and stops them on exit. Exit status 0 when everything matched, non-zero with a message naming
# the failed step otherwise. KEEP=1 keeps the temporary directory (logs, stores) for a post-mortem.
#
#   tests/slurm/run.sh            # uses target/release/imprl
#   IMPRL_BIN=/path/imprl tests/slurm/run.sh
set -euo pipefail

say() { echo "slurm test: $*"; }
die() {
    echo "slurm test: FAILED: $*" >&2
    exit 1
}

repo=$(cd "$(dirname "$0")/../.." && pwd)
bin=${IMPRL_BIN:-${CARGO_TARGET_DIR:-$repo/target}/release/imprl}
readme=$repo/README.md
shards=4
timeout_s=${SLURM_TEST_TIMEOUT:-600}

[ "$(id -u)" = 0 ] || die "must run as root (it starts munged, slurmctld and slurmd)"
export PATH=$PATH:/usr/sbin:/sbin
for c in munged slurmctld slurmd sbatch squeue sinfo scontrol setpriv; do
    command -v "$c" >/dev/null || die "$c not found (apt-get install slurmctld slurmd munge)"
done
id munge >/dev/null 2>&1 || die "no munge user (apt-get install munge)"
[ -x "$bin" ] || die "$bin not found: run cargo build --release first"
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")

work=$(mktemp -d "${TMPDIR:-/tmp}/imprl-slurm.XXXXXX")
chmod 755 "$work"
pids=()
cleanup() {
    local rc=$?
    set +e
    # Cancel whatever is left (a failed run), then stop the daemons we started, newest first.
    if [ "$rc" != 0 ] && [ -n "${array_job:-}" ]; then
        scancel "$array_job" ${merge_job:+"$merge_job"} >/dev/null 2>&1
        for _ in $(seq 20); do
            [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break
            sleep 0.5
        done
    fi
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        kill "${pids[$i]}" 2>/dev/null
    done
    for p in "${pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    if [ "$rc" != 0 ]; then
        for f in "$work"/slurmctld.log "$work"/slurmd.log "$work"/munge/munged.log \
            "$work"/submit/logs/*.out "$work"/submit/*.out; do
            [ -f "$f" ] || continue
            echo "---- last lines of $f" >&2
            tail -n 20 "$f" >&2
        done
    fi
    if [ "${KEEP:-0}" = 1 ]; then
        echo "slurm test: kept $work" >&2
    else
        rm -rf "$work"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- munge: a fresh key, its own socket, run as the munge user.
mkdir -p "$work/munge"
dd if=/dev/urandom of="$work/munge/munge.key" bs=1024 count=1 status=none
chown -R munge:munge "$work/munge"
chmod 755 "$work/munge" # the socket's directory: others need to reach the socket
chmod 400 "$work/munge/munge.key"
socket=$work/munge/munge.socket
setpriv --reuid=munge --regid=munge --init-groups munged --foreground \
    --key-file="$work/munge/munge.key" --socket="$socket" \
    --pid-file="$work/munge/munged.pid" --log-file="$work/munge/munged.log" \
    --seed-file="$work/munge/munged.seed" >"$work/munge/console.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -S "$socket" ] && break; sleep 0.1; done
[ -S "$socket" ] || die "munged did not start (see $work/munge/munged.log)"
say "munged up"

# ---- slurm.conf: one node (this host), no accounting, no cgroups.
host=$(hostname -s)
cpus=$(nproc)
mem_mb=$(awk '/^MemTotal:/ { m = int($2 / 1024 * 0.8); print (m < 4096 ? m : 4096) }' /proc/meminfo)
mkdir -p "$work/state" "$work/spool" "$work/submit"
export SLURM_CONF=$work/slurm.conf
cat >"$SLURM_CONF" <<EOF
ClusterName=imprltest
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=${SLURMCTLD_PORT:-16817}
SlurmdPort=${SLURMD_PORT:-16818}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$socket
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
MinJobAge=3600
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF

slurmctld -D -i -f "$SLURM_CONF" >"$work/slurmctld.console" 2>&1 &
pids+=($!)
slurmd -D -f "$SLURM_CONF" >"$work/slurmd.console" 2>&1 &
pids+=($!)
state=""
for _ in $(seq 120); do
    state=$(sinfo -h -n "$host" -o %T 2>/dev/null || true)
    [ "$state" = idle ] && break
    sleep 0.5
done
[ "$state" = idle ] || die "node $host not idle after 60 s (state: '${state:-none}')"
say "node $host idle ($cpus CPUs, ${mem_mb} MB)"

# ---- the README's sbatch script, adapted by substitution only.
script=$(awk '
    /^#### Slurm/ { in_section = 1; next }
    in_section && /^#### / { exit }
    in_section && !in_block && /^```sh$/ { in_block = 1; next }
    in_block && /^```$/ { exit }
    in_block { print }
' "$readme")
[ -n "$script" ] || die "no sbatch script found in README.md (section Slurm)"
substitute() { # from, to: replace exactly one occurrence of a fixed string
    local n
    n=$(grep -cF -- "$1" <<<"$script" || true)
    [ "$n" = 1 ] || die "README's sbatch script: expected '$1' once, found it $n times"
    script=${script/"$1"/"$2"}
}
substitute "--array=0-31" "--array=0-$((shards - 1))"
substitute "N=32" "N=$shards"
substitute "--cpus-per-task=4" "--cpus-per-task=1"
substitute "imprl reproduce \\" "imprl sweep --config \"\${GRID}\" \\"
printf '%s\n' "$script" >"$work/submit/reproduce.sbatch"

# A small grid: 2 parameterizations × 2 η × 2 offsets × 3 seeds of the chain = 24 runs.
export GRID=$work/grid.toml
cat >"$GRID" <<'EOF'
domain = "chain"
param  = ["explicit", "implicit"]
eta    = [0.9, 0.95]
offset = [0.0, 1.0]
seed   = [0, 1, 2]
EOF

export PATH=$(dirname "$bin"):$PATH
export SCRATCH=$work/scratch
OUT=$SCRATCH/imprl-results
mkdir -p "$SCRATCH"
cd "$work/submit"
mkdir -p logs # as the README says: Slurm does not create the --output directory
out=$(sbatch --parsable reproduce.sbatch) || die "sbatch of the array job was refused: $out"
array_job=${out%%;*}
say "array job $array_job submitted ($shards shards)"
out=$(sbatch --parsable --dependency=afterok:"$array_job" --output=merge-%j.out \
    --wrap "imprl merge --out $OUT/all $OUT/shard-*") || die "sbatch of the merge job was refused: $out"
merge_job=${out%%;*}
say "merge job $merge_job submitted (afterok:$array_job)"

# "<job>_<task> <state> <exit code>" of every task of a job (one line for a plain job).
job_states() {
    scontrol -o show job "$1" | awk '{
        id = ""; task = ""; st = ""; ec = "";
        for (i = 1; i <= NF; i++) {
            if ($i ~ /^JobId=/ && id == "") id = substr($i, 7);
            if ($i ~ /^ArrayJobId=/) id = substr($i, 12);
            if ($i ~ /^ArrayTaskId=/) task = "_" substr($i, 13);
            if ($i ~ /^JobState=/) st = substr($i, 10);
            if ($i ~ /^ExitCode=/) ec = substr($i, 10);
        }
        print id task, st, ec
    }'
}

deadline=$((SECONDS + timeout_s))
while [ -n "$(squeue -h -j "$array_job,$merge_job" -o %i 2>/dev/null)" ]; do
    [ "$SECONDS" -lt "$deadline" ] || die "jobs still queued or running after ${timeout_s} s: $(squeue -h -o '%i %T %r')"
    if squeue -h -j "$merge_job" -o %r 2>/dev/null | grep -q DependencyNeverSatisfied; then
        die "an array task failed, the merge job will never run: $(job_states "$array_job" | tr '\n' ';')"
    fi
    sleep 1
done

# Every array task and the merge job must have completed with exit code 0.
states=$(job_states "$array_job")
say "array tasks:"$'\n'"$states"
[ "$(wc -l <<<"$states")" = "$shards" ] || die "expected $shards array tasks, scontrol shows: $states"
bad=$(awk '$2 != "COMPLETED" || $3 != "0:0"' <<<"$states")
[ -z "$bad" ] || die "array tasks did not complete: $bad"
mstate=$(job_states "$merge_job")
[ "$(awk '{ print $2, $3 }' <<<"$mstate")" = "COMPLETED 0:0" ] || die "merge job: $mstate"

for i in $(seq 0 $((shards - 1))); do
    log=$(ls logs/imprl-reproduce-"${array_job}"_"$i".out 2>/dev/null) || die "no log of task $i in logs/"
    grep -q "shard $i/$shards" "$log" || die "task $i's log does not show shard $i/$shards: $(cat "$log")"
done

# The README's merge and export, by hand, next to the dependent job's merge.
imprl merge --out "$OUT/all-by-hand" "$OUT"/shard-* >/dev/null || die "imprl merge failed"
imprl export --results "$OUT/all" --format csv --out "$work/merged-job.csv" || die "export of the merge job's store failed"
imprl export --results "$OUT/all-by-hand" --format csv --out "$work/merged.csv" || die "export of the merged store failed"

# One unsharded sweep of the same grid.
imprl sweep --config "$GRID" --out "$work/unsharded" --progress quiet >/dev/null || die "unsharded sweep failed"
imprl export --results "$work/unsharded" --format csv --out "$work/unsharded.csv" || die "export of the unsharded store failed"

# Compare, leaving out wall-time columns should the tidy CSV ever have one.
strip_runtime() {
    awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) keep[i] = ($i !~ /runtime|wall/) }
             { line = ""; sep = "";
               for (i = 1; i <= NF; i++) if (keep[i]) { line = line sep $i; sep = "," }
               print line }' "$1"
}
runs=$(($(wc -l <"$work/unsharded.csv") - 1))
[ "$runs" -gt 0 ] || die "the unsharded export is empty"
cmp -s <(strip_runtime "$work/merged.csv") <(strip_runtime "$work/unsharded.csv") ||
    die "merged shards differ from the unsharded sweep: $(diff <(strip_runtime "$work/merged.csv") <(strip_runtime "$work/unsharded.csv") | head -5)"
cmp -s <(strip_runtime "$work/merged-job.csv") <(strip_runtime "$work/unsharded.csv") ||
    die "the dependent merge job's store differs from the unsharded sweep"
say "OK: $shards shards on Slurm, merged, equal the unsharded sweep ($runs CSV rows)"
