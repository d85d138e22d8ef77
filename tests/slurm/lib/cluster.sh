# shellcheck shell=bash
# A real single-node Slurm cluster on this machine, for tests: its own munged, slurmctld and slurmd, all
# configured in one temporary directory, on free ports. Nothing under /etc is written and no system-wide
# daemon is touched: the three daemons use the socket, key, spool, state and log paths inside $CLUSTER_DIR,
# and the Slurm commands find the configuration through SLURM_CONF.
#
# Source this file, then:
#   cluster_start DIR   # writes DIR/etc/slurm.conf, starts the daemons, waits until the node is idle,
#                       # exports SLURM_CONF; returns non-zero (after stopping what it started) on failure
#   cluster_stop        # cancels every job of this cluster, stops exactly the daemons cluster_start started
#
# What the notes (/work/shared/notes/slurm-on-one-machine.md) taught, applied here:
# - no systemd and no postinst-started daemons: every daemon is started by hand, detached, stdin from
#   /dev/null and output to files (so no daemon holds a CI pipe open), and stopped by its recorded PID;
# - munged gets its own socket and key in DIR/munge (no /run/munge, no /etc/munge/munge.key needed);
#   Slurm is pointed at it with AuthInfo=socket=...;
# - AuthInfo cred_expire=10 and sched_interval=2: a requeued job runs again after ~11-13 s, not ~2 min;
# - EnforcePartLimits=ALL: an impossible request fails at submit instead of pending for ever;
# - proctrack/linuxproc + task/none: no cgroups;
# - SlurmctldHost=localhost(127.0.0.1), NodeName=localhost NodeAddr=127.0.0.1, slurmd -N localhost:
#   no DNS needed;
# - a killed daemon may stay a zombie for seconds (PID 1 reaps late): state Z/X counts as gone;
# - ports: free ports are chosen (not 6817/6818), so a real Slurm on the machine is not disturbed.

CLUSTER_DIR=""
CLUSTER_MUNGE_PID=""
CLUSTER_CTLD_PID=""
CLUSTER_SLURMD_PID=""
CLUSTER_TIMEOUT=${CLUSTER_TIMEOUT:-30}

_cl_log() { printf '[cluster] %s\n' "$*" >&2; }

# The process' start time (field 22 of /proc/PID/stat), to tell a recorded PID from a reused one.
_cl_starttime() { awk '{ sub(/^.*\) /, ""); print $20 }' "/proc/$1/stat" 2>/dev/null; }

# Alive = exists and is neither a zombie nor dead (pitfall 6).
_cl_alive() {
    local pid=$1 state
    [[ -n $pid && -r /proc/$pid/stat ]] || return 1
    state=$(awk '{ sub(/^.*\) /, ""); print $1 }' "/proc/$pid/stat" 2>/dev/null) || return 1
    [[ -n $state && $state != Z && $state != X ]]
}

# PID files are written by the daemons after they detach; wait for one, then record "pid starttime".
_cl_wait_pidfile() {
    local file=$1 what=$2 i pid
    for ((i = 0; i < CLUSTER_TIMEOUT * 10; i++)); do
        if [[ -s $file ]]; then
            pid=$(tr -dc '0-9' < "$file")
            if [[ -n $pid ]] && _cl_alive "$pid"; then
                echo "$pid $(_cl_starttime "$pid")" > "$file.started"
                echo "$pid"
                return 0
            fi
        fi
        sleep 0.1
    done
    _cl_log "$what did not write a live PID to $file within ${CLUSTER_TIMEOUT}s"
    return 1
}

# Stop one daemon by its recorded PID (only if it is still the same process): TERM, then KILL.
_cl_stop_pid() {
    local pid=$1 what=$2 record=$3 i
    [[ -n $pid ]] || return 0
    if [[ -r $record ]] && _cl_alive "$pid"; then
        local want now
        want=$(awk '{print $2}' "$record")
        now=$(_cl_starttime "$pid")
        if [[ -n $want && $want != "$now" ]]; then
            _cl_log "$what: PID $pid is another process now; not touching it"
            return 0
        fi
    fi
    _cl_alive "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        _cl_alive "$pid" || return 0
        sleep 0.1
    done
    _cl_log "$what (PID $pid) ignored SIGTERM for 10 s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        _cl_alive "$pid" || return 0
        sleep 0.1
    done
    _cl_log "$what (PID $pid) is still alive after SIGKILL"
    return 1
}

# Free TCP ports on 127.0.0.1, chosen by the kernel (bind to port 0), printed one per line.
_cl_free_ports() {
    python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
for s in socks:
    print(s.getsockname()[1])
EOF
}

cluster_start() {
    CLUSTER_DIR=$1
    local d=$CLUSTER_DIR p
    for p in munged slurmctld slurmd; do
        if ! command -v "$p" >/dev/null 2>&1 && [[ ! -x /usr/sbin/$p ]]; then
            _cl_log "missing $p: apt-get install slurm-wlm munge"
            return 1
        fi
    done
    export PATH="$PATH:/usr/sbin:/sbin"
    for p in sbatch srun scontrol sinfo squeue scancel munge python3; do
        command -v "$p" >/dev/null 2>&1 || { _cl_log "missing command $p"; return 1; }
    done

    mkdir -p "$d"/{etc,munge,state,spool,log,run}
    # munged insists that every directory up to its socket be searchable by all, and the key private.
    chmod 755 "$d" "$d/munge"
    local key=$d/munge/munge.key sock=$d/munge/munge.sock
    if [[ ! -s $key ]]; then
        (umask 077; dd if=/dev/urandom of="$key" bs=128 count=1 status=none)
    fi
    chmod 400 "$key"

    local ports ctld_port slurmd_port
    ports=$(_cl_free_ports 2) || { _cl_log "cannot find free ports"; return 1; }
    ctld_port=$(sed -n 1p <<< "$ports")
    slurmd_port=$(sed -n 2p <<< "$ports")

    local cpus mem
    cpus=$(nproc)
    mem=$(awk '/^MemTotal:/ { printf "%d", $2 / 1024 * 0.9 }' /proc/meminfo)
    cat > "$d/etc/slurm.conf" <<EOF
# Written by tests/slurm/lib/cluster.sh for a throw-away single-node test cluster.
ClusterName=autowutest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$sock,cred_expire=10
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool/slurmd-%n
SlurmctldPidFile=$d/run/slurmctld.pid
SlurmdPidFile=$d/run/slurmd.pid
SlurmctldLogFile=$d/log/slurmctld.log
SlurmdLogFile=$d/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2,bf_interval=1
EnforcePartLimits=ALL
ReturnToService=2
KillWait=5
MinJobAge=600
MailProg=/bin/true
MpiDefault=none
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
EOF
    export SLURM_CONF=$d/etc/slurm.conf

    # munged: its own socket and key; it detaches itself and writes its PID file.
    /usr/sbin/munged --socket="$sock" --key-file="$key" --log-file="$d/log/munged.log" \
        --pid-file="$d/run/munged.pid" --seed-file="$d/munge/munged.seed" \
        </dev/null >>"$d/log/munged.out" 2>&1 || { _cl_log "munged failed: $(tail -n 3 "$d/log/munged.log")"; cluster_stop; return 1; }
    CLUSTER_MUNGE_PID=$(_cl_wait_pidfile "$d/run/munged.pid" munged) || { cluster_stop; return 1; }
    if ! munge -S "$sock" -n </dev/null | unmunge -S "$sock" >/dev/null 2>&1; then
        _cl_log "munge/unmunge round trip through $sock failed"
        cluster_stop
        return 1
    fi

    # slurmctld and slurmd detach (setsid) and write their PID files.
    /usr/sbin/slurmctld -c -f "$SLURM_CONF" </dev/null >>"$d/log/slurmctld.out" 2>&1 \
        || { _cl_log "slurmctld failed to start: $(tail -n 5 "$d/log/slurmctld.log" "$d/log/slurmctld.out" 2>/dev/null)"; cluster_stop; return 1; }
    CLUSTER_CTLD_PID=$(_cl_wait_pidfile "$d/run/slurmctld.pid" slurmctld) || { cluster_stop; return 1; }
    /usr/sbin/slurmd -f "$SLURM_CONF" -N localhost </dev/null >>"$d/log/slurmd.out" 2>&1 \
        || { _cl_log "slurmd failed to start: $(tail -n 5 "$d/log/slurmd.log" "$d/log/slurmd.out" 2>/dev/null)"; cluster_stop; return 1; }
    CLUSTER_SLURMD_PID=$(_cl_wait_pidfile "$d/run/slurmd.pid" slurmd) || { cluster_stop; return 1; }

    # Wait for the node to be plain "idle" (not idle*, which means not pinged yet).
    local i state="" resumed=0
    for ((i = 0; i < CLUSTER_TIMEOUT * 10; i++)); do
        state=$(sinfo -h -n localhost -o '%t' 2>/dev/null | head -n 1)
        case $state in
            idle) break ;;
            down* | drain* | fail*)
                if ((resumed == 0)); then
                    scontrol update nodename=localhost state=resume >/dev/null 2>&1 || true
                    resumed=1
                fi ;;
        esac
        sleep 0.1
    done
    if [[ $state != idle ]]; then
        _cl_log "node localhost is '$state', not idle, after ${CLUSTER_TIMEOUT}s"
        tail -n 20 "$d/log/slurmctld.log" "$d/log/slurmd.log" >&2 || true
        cluster_stop
        return 1
    fi
    _cl_log "up in $d: slurmctld :$ctld_port (PID $CLUSTER_CTLD_PID), slurmd :$slurmd_port (PID $CLUSTER_SLURMD_PID), munged (PID $CLUSTER_MUNGE_PID), $cpus CPUs"
}

cluster_stop() {
    local d=$CLUSTER_DIR i
    [[ -n $d ]] || return 0
    # Jobs first, while slurmctld and slurmd still run: this stops the job steps (and the autowud and
    # training processes in them) the normal way.
    if [[ -n $CLUSTER_CTLD_PID ]] && _cl_alive "$CLUSTER_CTLD_PID" && [[ -n ${SLURM_CONF:-} ]]; then
        local ids
        ids=$(squeue -h -o '%i' 2>/dev/null) || true
        # shellcheck disable=SC2086  # one argument per job id
        [[ -z $ids ]] || scancel --quiet $ids 2>/dev/null || true
        for ((i = 0; i < 150; i++)); do
            [[ -z $(squeue -h -o '%i' 2>/dev/null) ]] && break
            sleep 0.1
        done
    fi
    _cl_stop_pid "$CLUSTER_SLURMD_PID" slurmd "$d/run/slurmd.pid.started"
    _cl_stop_pid "$CLUSTER_CTLD_PID" slurmctld "$d/run/slurmctld.pid.started"
    _cl_stop_pid "$CLUSTER_MUNGE_PID" munged "$d/run/munged.pid.started"
    CLUSTER_SLURMD_PID="" CLUSTER_CTLD_PID="" CLUSTER_MUNGE_PID=""
}
