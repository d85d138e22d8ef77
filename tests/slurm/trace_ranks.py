#!/usr/bin/env python3
"""One rank of a pretend training job that plays a recorded loss trace against autowud.

Started once per Slurm task (``srun python3 trace_ranks.py ...``); identity, token and endpoints come from
the environment (AUTOWU_JOB / SLURM_JOB_ID, SLURM_PROCID, SLURM_NTASKS, AUTOWU_TOKEN, AUTOWU_CONTROL, ...),
exactly as a real training script would get them from deploy/slurm/autowu-job.sbatch.

For each step t it asks ``RankClient.lr()`` for the LR (waiting at the gates like a real rank), appends
``t <lr as float.hex()>`` to ``<lr-log>/rank<R>.log``, "trains" (sleeps --step-sleep), reports the trace's
loss of step t and then checkpoints ``{"next_step": t+1, kept losses}`` to ``<checkpoint>/rank<R>.json``
(atomically). On start it resumes from that checkpoint if there is one (a requeued job), handing the kept
losses of undecided epochs back to the client, as the PyTorch adapter's ``load_state_dict`` does.

Every (re)start writes a line ``# start step=S restarts=R pid=P`` to the LR log, and the end a summary
``<lr-log>/rank<R>.summary.json`` (the daemon's decision, the phase, the client's counters). Exit status 0
on success, 1 on any error (printed).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time


def read_trace(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or "loss" not in rows[0]:
        raise SystemExit(f"{path}: a CSV with a 'loss' column is expected")
    return [float(r["loss"]) for r in rows]


def write_json_atomic(path, obj):
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.replace(tmp, path)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trace", required=True, help="CSV with a 'loss' column, one row per step from step 0")
    p.add_argument("--steps-per-epoch", type=int, required=True)
    p.add_argument("--total-steps", type=int, required=True)
    p.add_argument("--lr-log", required=True, help="directory for rank<R>.log and rank<R>.summary.json")
    p.add_argument("--checkpoint", required=True, help="directory for rank<R>.json")
    p.add_argument("--step-sleep", type=float, default=0.0, help="seconds of pretend training per step")
    p.add_argument("--max-steps", type=int, default=None, help="stop after this step count (default: all)")
    p.add_argument("--total-wait", type=float, default=120.0, help="RankClient total_wait (seconds)")
    args = p.parse_args(argv)

    # Imported here so that --help works without the client installed.
    from autowu import RankClient
    from autowu.env import from_environ

    env = from_environ()
    rank = env.rank
    trace = read_trace(args.trace)
    T = args.total_steps
    end = T if args.max_steps is None else min(T, args.max_steps)
    os.makedirs(args.lr_log, exist_ok=True)
    os.makedirs(args.checkpoint, exist_ok=True)
    ckpt_path = os.path.join(args.checkpoint, f"rank{rank}.json")
    log_path = os.path.join(args.lr_log, f"rank{rank}.log")

    start, kept_first, kept = 0, None, None
    if os.path.exists(ckpt_path):
        with open(ckpt_path) as f:
            ck = json.load(f)
        if ck.get("job_id") != env.job_id:
            raise SystemExit(f"rank {rank}: checkpoint {ckpt_path} is of job {ck.get('job_id')!r}, "
                             f"this is {env.job_id!r}")
        start, kept_first, kept = int(ck["next_step"]), int(ck["kept_first_step"]), ck["kept_losses"]

    t0 = time.monotonic()
    client = RankClient(steps_per_epoch=args.steps_per_epoch, total_steps=T, start_step=start,
                        total_wait=args.total_wait)
    log = open(log_path, "a", buffering=1)
    try:
        log.write(f"# start step={start} restarts={env.restart_count} pid={os.getpid()} job={env.job_id} "
                  f"world={env.world_size} incarnation={client.state.incarnation}\n")
        print(f"rank {rank}/{env.world_size} job {env.job_id} starts at step {start} "
              f"(restarts={env.restart_count}, control={env.control}, job version {client.version})", flush=True)
        if kept:
            client.restore_losses(kept_first, kept)
        for t in range(start, end):
            lr = client.lr()
            log.write(f"{t} {lr.hex()}\n")
            if args.step_sleep > 0:
                time.sleep(args.step_sleep)
            loss = trace[t] if t < len(trace) else trace[-1]
            client.step(loss)
            first, losses = client.kept_losses()
            write_json_atomic(ckpt_path, {"job_id": env.job_id, "next_step": t + 1, "kept_first_step": first,
                                          "kept_losses": losses})
        client.flush()
        state = client.snapshot()
        d = state.decision
        summary = {
            "rank": rank, "job_id": env.job_id, "start_step": start, "end_step": end,
            "restart_count": env.restart_count, "seconds": round(time.monotonic() - t0, 3),
            "phase": int(state.phase), "version": int(state.version),
            "decision": ({"reason": d.reason, "epoch": d.epoch, "step": d.step, "lr": d.learning_rate.hex()}
                         if state.HasField("decision") and d.reason else None),
            "decided_through_epoch": int(state.plan.decided_through_epoch),
            "stats": client.stats,
        }
    finally:
        client.close()
    write_json_atomic(os.path.join(args.lr_log, f"rank{rank}.summary.json"), summary)
    log.write(f"# done steps={start}..{end - 1}\n")
    log.close()
    print(f"rank {rank} done: steps {start}..{end - 1} in {summary['seconds']} s, "
          f"decision={summary['decision']}", flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
