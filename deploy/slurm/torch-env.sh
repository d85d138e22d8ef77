#!/bin/sh
# torch-env.sh: run a command as one torch.distributed rank per Slurm task (what torchrun would set up).
#
#   srun deploy/slurm/torch-env.sh python train.py ...
#   sbatch -n 4 deploy/slurm/autowu-job.sbatch deploy/slurm/torch-env.sh python train.py ...
#
# Sets, from Slurm's task variables, unless already set:
#   RANK=$SLURM_PROCID  WORLD_SIZE=$SLURM_NTASKS  LOCAL_RANK=$SLURM_LOCALID
#   LOCAL_WORLD_SIZE=<tasks on this node>  MASTER_ADDR=<first node of the step>  MASTER_PORT=<from the job id>
# then execs the command. A script that uses torch.distributed's "env://" initialization (and
# examples/digits_ddp.py, which takes RANK + LOCAL_RANK as "started by torchrun") then runs one rank per
# task. autowu-job.sbatch exports MASTER_ADDR and MASTER_PORT once for the whole job (so tasks do not each
# ask slurmctld); without them this script finds the first node with `scontrol show hostnames`.
#
# MASTER_PORT default: 10000 + (10 * SLURM_JOB_ID + SLURM_RESTART_COUNT) % 10000, the same on every task of
# the job, another one after a requeue (so a socket of the killed run in TIME_WAIT cannot get in the way).
set -eu

if [ -z "${SLURM_PROCID:-}" ] || [ -z "${SLURM_NTASKS:-}" ]; then
    echo "torch-env.sh: not in a Slurm task (SLURM_PROCID/SLURM_NTASKS unset); start it with srun" >&2
    exit 2
fi
[ $# -gt 0 ] || { echo "usage: torch-env.sh COMMAND [ARGS...]" >&2; exit 2; }

: "${RANK:=$SLURM_PROCID}"
: "${WORLD_SIZE:=$SLURM_NTASKS}"
: "${LOCAL_RANK:=${SLURM_LOCALID:-0}}"
if [ -z "${LOCAL_WORLD_SIZE:-}" ]; then
    # SLURM_STEP_TASKS_PER_NODE looks like "4" or "4(x2),3"; this node's count is that of SLURM_NODEID.
    LOCAL_WORLD_SIZE=$(printf '%s\n' "${SLURM_STEP_TASKS_PER_NODE:-${SLURM_TASKS_PER_NODE:-1}}" | awk -v node="${SLURM_NODEID:-0}" '
        { n = split($0, parts, ","); i = 0
          for (k = 1; k <= n; k++) {
              count = parts[k]; times = 1
              if (match(count, /\(x[0-9]+\)/)) { times = substr(count, RSTART + 2, RLENGTH - 3); count = substr(count, 1, RSTART - 1) }
              for (j = 0; j < times; j++) { if (i == node) { print count; exit } i++ }
          } print 1 }')
fi
if [ -z "${MASTER_ADDR:-}" ]; then
    MASTER_ADDR=$(scontrol show hostnames "${SLURM_STEP_NODELIST:-$SLURM_JOB_NODELIST}" | head -n 1)
fi
: "${MASTER_PORT:=$((10000 + (10 * ${SLURM_JOB_ID:-0} + ${SLURM_RESTART_COUNT:-0}) % 10000))}"
export RANK WORLD_SIZE LOCAL_RANK LOCAL_WORLD_SIZE MASTER_ADDR MASTER_PORT
exec "$@"
