#!/usr/bin/env bash
# End-to-end test of deploy/slurm/ on a REAL single-node Slurm cluster started here (munged + slurmctld +
# slurmd on localhost, configured in a temporary directory; see lib/cluster.sh and README.md).
#
#   tests/slurm/run_slurm_test.sh
#
# Tests (each prints PASS/FAIL and what failed):
#   job             sbatch -n 4 deploy/slurm/autowu-job.sbatch: the job's own autowud; 4 ranks play a loss
#                   trace (trace_ranks.py, autowu.RankClient); the 4 LR logs agree bit for bit, the switch
#                   happened, the daemon was stopped with SIGTERM at the end.
#   requeue         the same, `scontrol requeue`d mid-warmup: it runs again (SLURM_RESTART_COUNT=1), a new
#                   autowud reloads the job from the state dir, the ranks resume from their checkpoints; the LR
#                   sequence is continuous, agrees across ranks and runs, and equals the undisturbed run's.
#   shared          deploy/slurm/autowu-shared-daemon.sbatch against a daemon started outside Slurm.
#   digits          examples/digits_ddp.py (torch.distributed gloo DDP) as 4 Slurm tasks via torch-env.sh.
#   digits-requeue  the same, requeued mid-warmup: resumes from its checkpoint without a second warmup.
#                   (The digits tests are skipped when torch or scikit-learn is missing.)
# Last line: "slurm: N passed, M failed" (", K skipped" if any). Exit status 0 only if none failed.
#
# Environment: AUTOWUD (the autowud binary; default: built with `swift build --product autowud`),
# AUTOWU_PYTHON (a python3 with the autowu client; default python3), SLURM_TEST_KEEP=1 (keep the temp dir;
# it is always kept on failure), SLURM_TEST_TIMEOUT (seconds per job, default 240), SLURM_TEST_REQUIRE_TORCH=1
# (fail instead of skipping the digits tests), SLURM_TEST_STEP_SLEEP (seconds per trace step, 0.004).
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=lib/cluster.sh
source "$HERE/lib/cluster.sh"

TRACE=$ROOT/traces/digits_bs128_seed0_spe12_ep80_W960.csv
E=12 T=1920 W=960 RANKS=4
JOB_TIMEOUT=${SLURM_TEST_TIMEOUT:-240}
STEP_SLEEP=${SLURM_TEST_STEP_SLEEP:-0.004}
# The requeue comes once every rank has checkpointed this many steps (epoch 20; the switch is at ~637).
REQUEUE_AT=${SLURM_TEST_REQUEUE_AT:-240}

passed=0 failed=0
t_start=$(date +%s)
say() { printf '%s\n' "$*"; }
elapsed() { echo $(($(date +%s) - t_start)); }

# A CI runner inside a Slurm job must not hand its own job's variables to ours.
# shellcheck disable=SC2046
unset $(compgen -v SLURM_) 2>/dev/null || true

RUN=$(mktemp -d /tmp/autowu-slurm-test.XXXXXX) || exit 1
chmod 755 "$RUN"
other_daemon_pid=""
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [[ -n $other_daemon_pid ]] && kill -0 "$other_daemon_pid" 2>/dev/null; then
        kill -TERM "$other_daemon_pid" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$other_daemon_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$other_daemon_pid" 2>/dev/null || true
        wait "$other_daemon_pid" 2>/dev/null || true
    fi
    cluster_stop
    if [[ ${SLURM_TEST_KEEP:-0} == 1 || $failed -gt 0 || $rc -ne 0 ]]; then
        say "(files kept in $RUN)"
    else
        rm -rf "$RUN"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM

pass() { passed=$((passed + 1)); say "PASS: $1 ($(elapsed)s)"; }
fail() { # what [details...]: each line of the details indented
    failed=$((failed + 1))
    say "FAIL: $1"
    shift
    local x
    for x in "$@"; do [[ -z $x ]] || printf '%s\n' "$x" | sed 's/^/      /'; done
}

# ---------------------------------------------------------------- preflight
PY=${AUTOWU_PYTHON:-python3}
PY=$(command -v "$PY") || { say "FAIL: no python3"; say "slurm: 0 passed, 1 failed"; exit 1; }
if ! "$PY" -c 'import autowu, zmq' 2>"$RUN/py.err"; then
    say "FAIL: preflight: $PY cannot import the autowu client: $(tail -n 1 "$RUN/py.err")"
    say "      pip install ./clients/python   (see tests/slurm/README.md)"
    say "slurm: 0 passed, 1 failed"; exit 1
fi
mkdir -p "$RUN/bin"
if [[ -z ${AUTOWUD:-} ]]; then
    say "building autowud (swift build --product autowud)"
    if ! (cd "$ROOT" && swift build --product autowud) > "$RUN/build.log" 2>&1; then
        say "FAIL: preflight: swift build --product autowud failed:"; tail -n 20 "$RUN/build.log"
        say "slurm: 0 passed, 1 failed"; exit 1
    fi
    AUTOWUD=$(cd "$ROOT" && swift build --show-bin-path)/autowud
fi
[[ -x $AUTOWUD ]] || { say "FAIL: preflight: no autowud at $AUTOWUD"; say "slurm: 0 passed, 1 failed"; exit 1; }
# A private copy: a rebuild elsewhere during the test cannot swap the binary under the jobs.
cp "$AUTOWUD" "$RUN/bin/autowud"
AUTOWUD=$RUN/bin/autowud

say "slurm test: $RUN, python $PY, autowud $AUTOWUD"
if ! cluster_start "$RUN/cluster"; then
    say "FAIL: cluster: could not start a single-node Slurm cluster (see above)"
    failed=1; say "slurm: 0 passed, 1 failed"; exit 1
fi
say "cluster up ($(elapsed)s): $(sinfo -h -o '%P %D %t %c CPUs' | head -n 1)"

# ---------------------------------------------------------------- helpers
job_field() { scontrol show job -o "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1; }

# Wait until job $1 is finished (COMPLETED, FAILED, CANCELLED, TIMEOUT, NODE_FAIL, ...) or $2 seconds passed.
wait_job_end() {
    local id=$1 limit=$2 t0 state
    t0=$(date +%s)
    while (($(date +%s) - t0 < limit)); do
        state=$(job_field "$id" JobState)
        case $state in
            PENDING | RUNNING | CONFIGURING | COMPLETING | REQUEUED | REQUEUE_HOLD | REQUEUE_FED | SUSPENDED | "") ;;
            *) echo "$state"; return 0 ;;
        esac
        sleep 0.5
    done
    echo "TIMEOUT_IN_TEST(last state: $(job_field "$id" JobState))"
    return 1
}

submit() { # dir script args... -> prints job id
    local dir=$1 script=$2
    shift 2
    mkdir -p "$dir"
    (cd "$dir" && sbatch --parsable -O -n "$RANKS" -o "$dir/slurm-%j.out" "$script" "$@")
}

trace_cmd() { # lr_dir ckpt_dir step_sleep -> CMD
    CMD=("$PY" "$HERE/trace_ranks.py" --trace "$TRACE" --steps-per-epoch "$E" --total-steps "$T"
        --lr-log "$1" --checkpoint "$2" --step-sleep "$3")
}

# Cancel whatever an earlier (failed) test left in the queue, so that it cannot disturb the next one.
drain_queue() {
    local ids i
    ids=$(squeue -h -o '%i' 2>/dev/null)
    [[ -n $ids ]] || return 0
    # shellcheck disable=SC2086
    scancel $ids 2>/dev/null
    for ((i = 0; i < 300; i++)); do
        [[ -z $(squeue -h -o '%i' 2>/dev/null) ]] && return 0
        sleep 0.1
    done
}

# The job's daemon served this autowu job: its log names it (registered, reloaded, tested).
daemon_knows() { # log job_id
    grep -q "job=$2[ ]" "$1" 2>/dev/null || grep -q "job=$2\$" "$1" 2>/dev/null
}

show_job_files() { # dir
    local f
    for f in "$1"/slurm-*.out; do [[ -e $f ]] && { say "--- $f (last 25 lines)"; tail -n 25 "$f" | sed 's/^/| /'; }; done
    for f in "$1"/state/*/autowud.log; do [[ -e $f ]] && { say "--- $f (last 10 lines)"; tail -n 10 "$f" | sed 's/^/| /'; }; done
}

# Both trace jobs report under the same autowu job id (in their own job-local daemons): the daemon seeds its
# test from the job id, so the requeued run must reproduce the undisturbed run's LR sequence bit for bit.
export AUTOWUD AUTOWU_JOB=slurm-test-trace
unset AUTOWU_ENDPOINT AUTOWU_CONTROL AUTOWU_INGEST AUTOWU_EVENTS AUTOWU_TOKEN AUTOWU_RANK AUTOWU_WORLD_SIZE

# ---------------------------------------------------------------- test 1: job with its own daemon
test_job() {
    local d=$RUN/t1 id state rc out
    say "--- job: sbatch -n $RANKS autowu-job.sbatch, 4 ranks play $(basename "$TRACE")"
    drain_queue
    trace_cmd "$d/lr" "$d/ckpt" "$STEP_SLEEP"
    id=$(AUTOWU_STATE_ROOT=$d/state submit "$d" "$ROOT/deploy/slurm/autowu-job.sbatch" "${CMD[@]}") \
        || { fail "job: sbatch failed: $id"; return; }
    state=$(wait_job_end "$id" "$JOB_TIMEOUT")
    rc=$(job_field "$id" ExitCode)
    if [[ $state != COMPLETED || $rc != 0:0 ]]; then
        fail "job: Slurm job $id ended $state, exit code $rc (expected COMPLETED, 0:0)" "$(show_job_files "$d")"
        return
    fi
    if ! out=$("$PY" "$HERE/check_lr_logs.py" "$d/lr" --ranks "$RANKS" --total-steps "$T" --warmup-steps "$W" \
            --json "$d/check.json" 2>&1); then
        fail "job: LR logs of Slurm job $id" "$out"
        return
    fi
    local ready
    ready=$(grep -h 'autowud ready' "$d"/slurm-*.out | head -n 1)
    if [[ -z $ready ]] || ! grep -q 'training step exited with status 0' "$d"/slurm-*.out; then
        fail "job: the job's output lacks the daemon's ready line or the training's end" "$(show_job_files "$d")"
        return
    fi
    if ! daemon_knows "$d/state/$id/autowud.log" "$AUTOWU_JOB"; then
        fail "job: the job's autowud never heard of job $AUTOWU_JOB (did the ranks talk to another daemon?)" \
            "$(show_job_files "$d")"
        return
    fi
    if ! grep -q 'autowud stopped (status 0)' "$d"/slurm-*.out; then
        fail "job: the daemon was not stopped cleanly with SIGTERM at the job's end" "$(show_job_files "$d")"
        return
    fi
    say "      $out"
    say "      ${ready#autowu-job: }"
    pass "job (Slurm job $id)"
}

# ---------------------------------------------------------------- test 2: requeue mid-warmup
test_requeue() {
    local d=$RUN/t2 id state rc out i min max t0 restarts
    say "--- requeue: the same job, scontrol requeue once every rank passed step $REQUEUE_AT"
    drain_queue
    trace_cmd "$d/lr" "$d/ckpt" "$STEP_SLEEP"
    id=$(AUTOWU_STATE_ROOT=$d/state submit "$d" "$ROOT/deploy/slurm/autowu-job.sbatch" "${CMD[@]}") \
        || { fail "requeue: sbatch failed: $id"; return; }
    t0=$(date +%s)
    min=-1
    while (($(date +%s) - t0 < JOB_TIMEOUT)); do
        min=$("$PY" - "$d/ckpt" "$RANKS" <<'EOF'
import json, os, sys
d, n = sys.argv[1], int(sys.argv[2])
steps = []
for r in range(n):
    try:
        with open(os.path.join(d, f"rank{r}.json")) as f:
            steps.append(json.load(f)["next_step"])
    except (OSError, ValueError, KeyError):
        steps.append(-1)
print(min(steps), max(steps))
EOF
        )
        max=${min#* } min=${min% *}
        ((min >= REQUEUE_AT)) && break
        state=$(job_field "$id" JobState)
        [[ $state == PENDING || $state == RUNNING || $state == CONFIGURING ]] || break
        sleep 0.1
    done
    if ((min < REQUEUE_AT)); then
        fail "requeue: the ranks never reached step $REQUEUE_AT (job state $(job_field "$id" JobState))" "$(show_job_files "$d")"
        return
    fi
    if ! out=$(scontrol requeue "$id" 2>&1); then
        fail "requeue: scontrol requeue $id failed: $out"
        return
    fi
    say "      requeued Slurm job $id with the ranks' checkpoints at steps $min..$max (switch expected at ~637)"
    state=$(wait_job_end "$id" "$JOB_TIMEOUT")
    rc=$(job_field "$id" ExitCode)
    restarts=$(job_field "$id" Restarts)
    if [[ $state != COMPLETED || $rc != 0:0 || $restarts != 1 ]]; then
        fail "requeue: Slurm job $id ended $state, exit code $rc, Restarts=$restarts (expected COMPLETED, 0:0, 1)" \
            "$(show_job_files "$d")"
        return
    fi
    if ! out=$("$PY" "$HERE/check_lr_logs.py" "$d/lr" --ranks "$RANKS" --total-steps "$T" --warmup-steps "$W" \
            --restarts 1 --reference "$RUN/t1/lr" --json "$d/check.json" 2>&1); then
        fail "requeue: LR logs of Slurm job $id" "$out" "$(show_job_files "$d")"
        return
    fi
    # The second daemon started on the same store (the job's state dir) and the token was reused.
    local starts
    starts=$(grep -c '^==== ' "$d/state/$id/autowud.log" 2>/dev/null)
    if [[ $starts != 2 ]] || ! grep -q 'reloaded' "$d/state/$id/autowud.log"; then
        fail "requeue: expected 2 autowud starts in $d/state/$id/autowud.log, the second reloading the job; found ${starts:-0} starts" \
            "$(show_job_files "$d")"
        return
    fi
    say "      $out"
    pass "requeue (Slurm job $id, Restarts=$restarts)"
}

# ---------------------------------------------------------------- test 3: a cluster-wide daemon
test_shared() {
    local d=$RUN/t3 id state rc out port i
    say "--- shared: autowu-shared-daemon.sbatch against a daemon started outside Slurm"
    drain_queue
    mkdir -p "$d"
    for ((i = 0; i < 5; i++)); do
        port=$((33000 + RANDOM % 20000))
        "$AUTOWUD" --data-dir "$d/daemon" --control "tcp://127.0.0.1:$port" --ingest "tcp://127.0.0.1:$((port + 1))" \
            --events "tcp://127.0.0.1:$((port + 2))" > "$d/autowud.out" 2> "$d/autowud.log" < /dev/null &
        other_daemon_pid=$!
        for _ in $(seq 100); do
            grep -q '^autowud ready' "$d/autowud.out" 2>/dev/null && break
            kill -0 "$other_daemon_pid" 2>/dev/null || break
            sleep 0.1
        done
        grep -q '^autowud ready' "$d/autowud.out" && break
        kill -KILL "$other_daemon_pid" 2>/dev/null; wait "$other_daemon_pid" 2>/dev/null
        other_daemon_pid=""
    done
    [[ -n $other_daemon_pid ]] || { fail "shared: could not start autowud outside Slurm" "$(tail -n 5 "$d/autowud.log")"; return; }
    trace_cmd "$d/lr" "$d/ckpt" 0
    # AUTOWU_AUTH=token: the token path, whether or not a munged answers on this machine.
    id=$(AUTOWU_AUTH=token AUTOWU_ENDPOINT=tcp://127.0.0.1:$port AUTOWU_JOB=slurm-test-shared AUTOWU_STATE_ROOT=$d/state \
        submit "$d" "$ROOT/deploy/slurm/autowu-shared-daemon.sbatch" "${CMD[@]}") \
        || { fail "shared: sbatch failed: $id"; return; }
    state=$(wait_job_end "$id" "$JOB_TIMEOUT")
    rc=$(job_field "$id" ExitCode)
    if [[ $state != COMPLETED || $rc != 0:0 ]]; then
        fail "shared: Slurm job $id ended $state, exit code $rc" "$(show_job_files "$d")"
        return
    fi
    if ! out=$("$PY" "$HERE/check_lr_logs.py" "$d/lr" --ranks "$RANKS" --total-steps "$T" --warmup-steps "$W" 2>&1); then
        fail "shared: LR logs of Slurm job $id" "$out"
        return
    fi
    # The daemon outside Slurm served the job, and the script stored the job's token for a requeue.
    if ! daemon_knows "$d/autowud.log" slurm-test-shared; then
        fail "shared: the shared autowud never heard of job slurm-test-shared" "$(tail -n 5 "$d/autowud.log")"
        return
    fi
    if ! grep -q . "$d/state/$id/token"; then
        fail "shared: no token stored in $d/state/$id/token"
        return
    fi
    say "      $out"
    pass "shared (Slurm job $id, daemon PID $other_daemon_pid)"
}

# ---------------------------------------------------------------- tests 4, 5: examples/digits_ddp.py
# Real training: torch.distributed (gloo) DDP of an MLP on scikit-learn's digits, one rank per Slurm task
# (deploy/slurm/torch-env.sh), AdamW's LR from autowu.torch.AutoWULR, checkpoint every epoch.
DIGITS=$ROOT/examples/digits_ddp.py
digits_cmd() { # lr_dir checkpoint -> CMD
    CMD=("$ROOT/deploy/slurm/torch-env.sh" "$PY" "$DIGITS" --epochs 120 --global-batch 512
        --solver "$DIGITS_SOLVER" --lr-log "$1" --checkpoint "$2")
}

# From rank 0's output: "job ID: 4 ranks, 3 steps/epoch, 360 steps, ... over at most 180 steps" and
# "LR found: X; switch at step S (reason R, epoch E)".
digits_facts() { # slurm output -> "T W S R" (empty fields as -)
    local out=$1 T W S R
    T=$(sed -n 's/.* steps\/epoch, \([0-9]*\) steps,.*/\1/p' "$out" | head -n 1)
    W=$(sed -n 's/.* over at most \([0-9]*\) steps.*/\1/p' "$out" | head -n 1)
    S=$(sed -n 's/^LR found: .*switch at step \([0-9]*\) (reason \([a-z_]*\).*/\1/p' "$out" | tail -n 1)
    R=$(sed -n 's/^LR found: .*switch at step \([0-9]*\) (reason \([a-z_]*\).*/\2/p' "$out" | tail -n 1)
    echo "${T:--} ${W:--} ${S:--} ${R:--}"
}

test_digits_job() {
    local d=$RUN/t4 id state rc out T W S R
    say "--- digits: sbatch -n $RANKS autowu-job.sbatch torch-env.sh digits_ddp.py (gloo DDP, 4 ranks)"
    drain_queue
    digits_cmd "$d/lr" "$d/ckpt.pt"
    id=$(AUTOWU_JOB=slurm-test-digits AUTOWU_STATE_ROOT=$d/state submit "$d" "$ROOT/deploy/slurm/autowu-job.sbatch" \
        "${CMD[@]}") || { fail "digits: sbatch failed: $id"; return; }
    state=$(wait_job_end "$id" "$JOB_TIMEOUT")
    rc=$(job_field "$id" ExitCode)
    if [[ $state != COMPLETED || $rc != 0:0 ]]; then
        fail "digits: Slurm job $id ended $state, exit code $rc (expected COMPLETED, 0:0)" "$(show_job_files "$d")"
        return
    fi
    read -r T W S R <<< "$(digits_facts "$d/slurm-$id.out")"
    if [[ $T == - || $W == - || $S == - || ( $R != gp_test && $R != rebound ) ]]; then
        fail "digits: rank 0 did not report the run's size and a switch by the AutoWU test (T=$T W=$W switch=$S reason=$R)" \
            "$(show_job_files "$d")"
        return
    fi
    if ! out=$("$PY" "$HERE/check_lr_logs.py" "$d/lr" --format digits --ranks "$RANKS" --total-steps "$T" \
            --warmup-steps "$W" --switch-step "$S" 2>&1); then
        fail "digits: LR logs of Slurm job $id" "$out" "$(show_job_files "$d")"
        return
    fi
    if ! daemon_knows "$d/state/$id/autowud.log" slurm-test-digits; then
        fail "digits: the job's autowud never heard of job slurm-test-digits" "$(show_job_files "$d")"
        return
    fi
    DIGITS_S=$S
    say "      $out"
    say "      $(grep -h '^test accuracy' "$d/slurm-$id.out" | head -n 1)"
    pass "digits (Slurm job $id)"
}

test_digits_requeue() {
    local d=$RUN/t5 id state rc out t0 epoch=-1 log restarts T W S R resumed
    say "--- digits-requeue: digits_ddp.py requeued once the daemon has tested epoch $DIGITS_REQUEUE_EPOCH"
    if [[ -z ${DIGITS_S:-} ]]; then
        fail "digits-requeue: needs the undisturbed digits run, which failed"
        return
    fi
    drain_queue
    digits_cmd "$d/lr" "$d/ckpt.pt"
    id=$(AUTOWU_JOB=slurm-test-digits AUTOWU_STATE_ROOT=$d/state submit "$d" "$ROOT/deploy/slurm/autowu-job.sbatch" \
        "${CMD[@]}") || { fail "digits-requeue: sbatch failed: $id"; return; }
    # Watch the job's daemon: it logs "epoch=K ... epoch tested" per verdict and "warmup ended" at the switch.
    log=$d/state/$id/autowud.log
    t0=$(date +%s)
    while (($(date +%s) - t0 < JOB_TIMEOUT)); do
        if [[ -f $log ]]; then
            epoch=$(grep 'epoch tested' "$log" | sed -n 's/.*[ :]epoch=\([0-9]*\).*/\1/p' | sort -n | tail -n 1)
            epoch=${epoch:--1}
            grep -q 'warmup ended' "$log" && break
            ((epoch >= DIGITS_REQUEUE_EPOCH)) && break
        fi
        state=$(job_field "$id" JobState)
        [[ $state == PENDING || $state == RUNNING || $state == CONFIGURING ]] || break
        sleep 0.05
    done
    if ((epoch < DIGITS_REQUEUE_EPOCH)) || grep -q 'warmup ended' "$log" 2>/dev/null; then
        fail "digits-requeue: did not catch the job mid-warmup (last epoch tested: $epoch; warmup ended: $(grep -c 'warmup ended' "$log" 2>/dev/null))" \
            "$(show_job_files "$d")"
        return
    fi
    if ! out=$(scontrol requeue "$id" 2>&1); then
        fail "digits-requeue: scontrol requeue $id failed: $out"
        return
    fi
    say "      requeued Slurm job $id after its daemon tested epoch $epoch (the undisturbed run switched at step $DIGITS_S)"
    state=$(wait_job_end "$id" "$JOB_TIMEOUT")
    rc=$(job_field "$id" ExitCode)
    restarts=$(job_field "$id" Restarts)
    if [[ $state != COMPLETED || $rc != 0:0 || $restarts != 1 ]]; then
        fail "digits-requeue: Slurm job $id ended $state, exit code $rc, Restarts=$restarts (expected COMPLETED, 0:0, 1)" \
            "$(show_job_files "$d")"
        return
    fi
    read -r T W S R <<< "$(digits_facts "$d/slurm-$id.out")"
    # rank 0: "resumed from PATH after epoch K (step S, LR X)"
    resumed=$(sed -n 's/^resumed from .* after epoch [0-9]* (step \([0-9]*\),.*/\1/p' "$d/slurm-$id.out" | tail -n 1)
    if [[ -z $resumed || $resumed -le 0 || $resumed -ge $DIGITS_S ]]; then
        fail "digits-requeue: the requeued run did not resume from a checkpoint mid-warmup (resumed at step '${resumed}', switch at $DIGITS_S)" \
            "$(show_job_files "$d")"
        return
    fi
    # examples/digits_ddp.py writes its LR log block-buffered, so the killed run's lines are lost and the
    # resumed run's log starts at its first step. And 4-rank gloo DDP is not bit-reproducible across a restart
    # (the resumed run's losses differ in the last bits, so the switch may move by an epoch): the LRs must
    # equal the undisturbed run's up to the earlier of the two switches (the warmup continues where it was:
    # no second warmup), and after that follow the one switch this run's daemon decided.
    local until=$((S < DIGITS_S ? S : DIGITS_S))
    if ! out=$("$PY" "$HERE/check_lr_logs.py" "$d/lr" --format digits --ranks "$RANKS" --total-steps "$T" \
            --warmup-steps "$W" --switch-step "$S" --from-step "$resumed" --reference "$RUN/t4/lr" \
            --reference-until "$until" 2>&1); then
        fail "digits-requeue: LR logs of Slurm job $id" "$out" "$(show_job_files "$d")"
        return
    fi
    if [[ $(grep -c '^==== ' "$log") != 2 ]] || ! grep -q 'reloaded' "$log"; then
        fail "digits-requeue: the second autowud did not start on the job's store (see $log)" "$(show_job_files "$d")"
        return
    fi
    say "      resumed at step $resumed; $out (undisturbed run: switch at $DIGITS_S)"
    pass "digits-requeue (Slurm job $id, Restarts=$restarts)"
}

DIGITS_REQUEUE_EPOCH=${SLURM_TEST_DIGITS_REQUEUE_EPOCH:-10}
DIGITS_SOLVER=${SLURM_TEST_DIGITS_SOLVER:-fast}
skipped=0
test_job
test_requeue
test_shared
if [[ ! -f $DIGITS ]]; then
    say "SKIP: digits, digits-requeue: no examples/digits_ddp.py"
    skipped=2
elif ! "$PY" -c 'import torch, sklearn, autowu.torch' 2>"$RUN/torch.err"; then
    if [[ ${SLURM_TEST_REQUIRE_TORCH:-0} == 1 ]]; then
        fail "digits: $PY lacks torch or scikit-learn ($(tail -n 1 "$RUN/torch.err")); see tests/slurm/README.md"
    else
        say "SKIP: digits, digits-requeue: $PY lacks torch or scikit-learn ($(tail -n 1 "$RUN/torch.err"))"
        skipped=2
    fi
else
    test_digits_job
    test_digits_requeue
fi

say "runtime $(elapsed)s"
say "slurm: $passed passed, $failed failed$( ((skipped)) && echo ", $skipped skipped")"
((failed == 0))
