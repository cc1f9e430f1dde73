#!/usr/bin/env bash
# A real single-node SLURM cluster for tests: munge, MariaDB, slurmdbd, slurmctld and slurmd on
# this machine, started by hand (no systemd). Needs root and Debian's packages (installed here if
# missing). See README.md in this folder.
#
#   cluster.sh up      install what is missing, write the configs, start what is not running
#   cluster.sh down    cancel all jobs, stop every daemon (MariaDB and munge included)
#   cluster.sh status  daemons and sinfo; exit 0 only when the node takes jobs
#
# Exit codes: 0 ok, 1 failure, 2 usage, 3 the cluster cannot run here (not root, no apt/dpkg,
# a foreign slurm.conf); the reason is then also written to $STATE/unavailable for pytest.
set -euo pipefail
shopt -s inherit_errexit  # also stop on failures inside $(...)

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STATE=${TELEPATHY_SLURM_STATE:-/tmp/telepathy-slurm}
TIMEOUT_S=${TELEPATHY_SLURM_TIMEOUT:-60}
CLUSTER=telepathy-test
HOST=$(hostname -s)
ETC=/etc/slurm
LOG=$STATE/log
RUN=$STATE/run
MARKER="# managed by telepathy slurm/testcluster/cluster.sh"
PACKAGES=(slurmctld slurmd slurm-client slurmdbd munge mariadb-server)
EXIT_UNAVAILABLE=3
# A local test database, reachable only through the unix socket (--skip-networking).
DB_PASS=telepathy-test
MUNGE_PIDFILE=/run/munge/munged.pid
MYSQLD_PIDFILE=/run/mysqld/mysqld.pid

# Test timers; the README explains each.
CRED_EXPIRE=10
SLURMD_TIMEOUT=10
KILL_WAIT=5
MIN_JOB_AGE=30
MEM_HEADROOM_MB=2048
DEF_MEM_PER_CPU=1000

say() { printf 'cluster.sh: %s\n' "$*" >&2; }

unavailable() {
    # Best effort: a non-root user may not be able to write to a root-owned $STATE.
    { mkdir -p "$STATE" && printf '%s\n' "$1" >"$STATE/unavailable"; } 2>/dev/null || true
    say "SLURM test cluster cannot start here: $1"
    exit "$EXIT_UNAVAILABLE"
}

# die MESSAGE [LOGFILE]: fail with the message and the last lines of the daemon's log.
die() {
    say "error: $1"
    if [[ $# -ge 2 && -f $2 ]]; then
        say "last lines of $2:"
        tail -n 25 "$2" >&2
    fi
    exit 1
}

now() { printf '%s' "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

# wait_for WHAT LOGFILE CMD...: poll CMD until it succeeds, or die after TIMEOUT_S.
wait_for() {
    local what=$1 logfile=$2
    shift 2
    local deadline=$((SECONDS + TIMEOUT_S))
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            die "$what not ready after ${TIMEOUT_S}s" "$logfile"
        fi
        sleep 0.2
    done
}

pid_alive() { [[ -s $1 ]] && kill -0 "$(<"$1")" 2>/dev/null; }

# stop_pid NAME PIDFILE: SIGTERM, wait, then SIGKILL if it is still there.
stop_pid() {
    local name=$1 pidfile=$2 pid deadline
    pid_alive "$pidfile" || return 0
    pid=$(<"$pidfile")
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + 20))
    while kill -0 "$pid" 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            say "$name (pid $pid) ignored SIGTERM for 20s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        sleep 0.2
    done
}

munge_ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }
db_ok() { mysqladmin --silent ping >/dev/null 2>&1; }
dbd_ok() {
    pid_alive "$RUN/slurmdbd.pid" && timeout 10 sacctmgr -n -P list cluster >/dev/null 2>&1
}
ctld_ok() { timeout 10 scontrol ping 2>/dev/null | grep -q 'is UP'; }
node_state() { timeout 10 sinfo -h -n "$HOST" -o %T 2>/dev/null | head -n 1; }
node_ok() { [[ $(node_state) =~ ^(idle|mixed|allocated|completing)$ ]]; }

check_host() {
    [[ $EUID -eq 0 ]] || unavailable "needs root to start munge, MariaDB and the SLURM daemons"
    if [[ -f $ETC/slurm.conf ]] && ! head -n 1 "$ETC/slurm.conf" | grep -qF "$MARKER"; then
        unavailable "$ETC/slurm.conf exists and was not written by cluster.sh (a real cluster?)"
    fi
}

missing_packages() {
    local pkg
    for pkg in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' \
            || printf '%s\n' "$pkg"
    done
}

install_packages() {
    local missing=() pkg started policy_made=0
    if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
        local have_all=1
        for pkg in slurmctld slurmd slurmdbd munged mysqld_safe sinfo; do
            command -v "$pkg" >/dev/null || have_all=0
        done
        ((have_all)) && return 0
        unavailable "SLURM packages are missing and there is no apt-get/dpkg to install them"
    fi
    mapfile -t missing < <(missing_packages)
    ((${#missing[@]})) || return 0
    started=$(now)
    say "installing ${missing[*]} (log: $LOG/apt.log)"
    # Keep package scripts from starting the daemons with their stock configs; we start them.
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        policy_made=1
    fi
    local apt=(apt-get -y -qq -o Dpkg::Use-Pty=0 install --no-install-recommends)
    for pkg in "${missing[@]}"; do
        if ! apt-cache policy "$pkg" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
            apt-get update -qq >>"$LOG/apt.log" 2>&1 || die "apt-get update failed" "$LOG/apt.log"
            break
        fi
    done
    if ! DEBIAN_FRONTEND=noninteractive "${apt[@]}" "${missing[@]}" >>"$LOG/apt.log" 2>&1; then
        # Stale package lists give 404s: refresh once and retry.
        apt-get update -qq >>"$LOG/apt.log" 2>&1 || die "apt-get update failed" "$LOG/apt.log"
        DEBIAN_FRONTEND=noninteractive "${apt[@]}" "${missing[@]}" >>"$LOG/apt.log" 2>&1 \
            || die "apt-get install ${missing[*]} failed" "$LOG/apt.log"
    fi
    ((policy_made)) && rm -f /usr/sbin/policy-rc.d
    say "packages installed in $(since "$started")s"
}

# memory_mode: "cgroup" where a cgroup v1 memory controller is mounted (a job over --mem then
# ends OUT_OF_MEMORY), else "jobacct" (OverMemoryKill: FAILED 0:9). Override with
# TELEPATHY_SLURM_MEMORY=cgroup|jobacct.
memory_mode() {
    if [[ -n ${TELEPATHY_SLURM_MEMORY:-} ]]; then
        printf '%s\n' "$TELEPATHY_SLURM_MEMORY"
    elif grep -qs ' /sys/fs/cgroup/memory cgroup ' /proc/mounts \
        && [[ -w /sys/fs/cgroup/memory/memory.limit_in_bytes ]]; then
        echo cgroup
    else
        echo jobacct
    fi
}

# render TEMPLATE: the template with every @NAME@ replaced.
render() {
    local real_mb memory
    case $(memory_mode) in
        cgroup) memory='TaskPlugin=task/cgroup' ;;
        jobacct) memory='TaskPlugin=task/none\nJobAcctGatherParams=OverMemoryKill' ;;
        *) die "TELEPATHY_SLURM_MEMORY must be cgroup or jobacct" ;;
    esac
    real_mb=$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)
    real_mb=$((real_mb - MEM_HEADROOM_MB))
    sed -e "s|@CLUSTER@|$CLUSTER|g" -e "s|@HOST@|$HOST|g" -e "s|@STATE@|$STATE|g" \
        -e "s|@REAL_MEMORY@|$real_mb|g" -e "s|@DEF_MEM_PER_CPU@|$DEF_MEM_PER_CPU|g" \
        -e "s|@CRED_EXPIRE@|$CRED_EXPIRE|g" -e "s|@SLURMD_TIMEOUT@|$SLURMD_TIMEOUT|g" \
        -e "s|@KILL_WAIT@|$KILL_WAIT|g" -e "s|@MIN_JOB_AGE@|$MIN_JOB_AGE|g" \
        -e "s|@DB_PASS@|$DB_PASS|g" -e "s|@MEMORY_ENFORCEMENT@|$memory|g" "$1"
}

# write_configs: install the rendered configs; prints "changed" if any file differs.
write_configs() {
    local name changed=0
    mkdir -p "$ETC" "$STATE/conf" "$STATE/ctld" "$STATE/slurmd" "$LOG" "$RUN" "$STATE/dev"
    # Fake GPU "devices": plain files that we own; slurmd accepts them for scheduling.
    touch "$STATE/dev/nvidia0" "$STATE/dev/nvidia1"
    memory_mode >"$STATE/memory_enforcement"
    for name in slurm.conf gres.conf cgroup.conf slurmdbd.conf; do
        render "$HERE/$name.in" >"$STATE/conf/$name"
        if ! cmp -s "$STATE/conf/$name" "$ETC/$name"; then
            install -m 644 "$STATE/conf/$name" "$ETC/$name"
            changed=1
        fi
    done
    chmod 600 "$ETC/slurmdbd.conf" "$STATE/conf/slurmdbd.conf"
    ((changed)) && echo changed
    return 0
}

start_munge() {
    munge_ok && return 0
    if [[ ! -s /etc/munge/munge.key ]]; then
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
    chown munge:munge /etc/munge/munge.key
    chmod 400 /etc/munge/munge.key
    mkdir -p /run/munge
    chown munge:munge /run/munge
    chmod 755 /run/munge
    runuser -u munge -- munged </dev/null >>"$LOG/munged.out" 2>&1 \
        || die "munged did not start" /var/log/munge/munged.log
    wait_for munge /var/log/munge/munged.log munge_ok
}

start_mariadb() {
    if ! db_ok; then
        if [[ ! -d /var/lib/mysql/mysql ]]; then
            mariadb-install-db --user=mysql --datadir=/var/lib/mysql >>"$LOG/mariadb.log" 2>&1 \
                || die "mariadb-install-db failed" "$LOG/mariadb.log"
        fi
        mkdir -p /run/mysqld
        chown mysql:mysql /run/mysqld
        touch "$LOG/mariadb.log"
        chown mysql:mysql "$LOG/mariadb.log"
        setsid mysqld_safe --user=mysql --skip-networking --skip-syslog \
            --pid-file="$MYSQLD_PIDFILE" --log-error="$LOG/mariadb.log" \
            </dev/null >>"$LOG/mysqld_safe.out" 2>&1 &
        echo $! >"$RUN/mysqld_safe.pid"
        wait_for MariaDB "$LOG/mariadb.log" db_ok
    fi
    mysql -u root <<SQL || die "could not create the accounting database" "$LOG/mariadb.log"
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
ALTER USER 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
SQL
}

start_slurmdbd() {
    dbd_ok && return 0
    slurmdbd </dev/null >>"$LOG/slurmdbd.out" 2>&1 || die "slurmdbd did not start" "$LOG/slurmdbd.log"
    wait_for slurmdbd "$LOG/slurmdbd.log" dbd_ok
    if ! sacctmgr -n -P list cluster format=cluster | grep -qx "$CLUSTER"; then
        sacctmgr -i add cluster "$CLUSTER" >/dev/null || die "sacctmgr add cluster failed"
    fi
}

start_slurmctld() {
    ctld_ok && return 0
    slurmctld </dev/null >>"$LOG/slurmctld.out" 2>&1 \
        || die "slurmctld did not start" "$LOG/slurmctld.log"
    wait_for slurmctld "$LOG/slurmctld.log" ctld_ok
}

start_slurmd() {
    local state resumed=0 deadline
    if ! pid_alive "$RUN/slurmd.pid"; then
        slurmd </dev/null >>"$LOG/slurmd.out" 2>&1 || die "slurmd did not start" "$LOG/slurmd.log"
    fi
    deadline=$((SECONDS + TIMEOUT_S))
    until node_ok; do
        state=$(node_state)
        # A node left down or drained by an earlier run: slurmd has registered (no "*"), so
        # put it back in service once.
        if ((!resumed)) && [[ $state =~ ^(down|drain|drained|draining|fail)$ ]]; then
            scontrol update nodename="$HOST" state=resume >/dev/null 2>&1 || true
            resumed=1
        fi
        if ((SECONDS >= deadline)); then
            die "node $HOST is '$state', not idle, after ${TIMEOUT_S}s" "$LOG/slurmd.log"
        fi
        sleep 0.2
    done
}

# stop_slurm [cancel]: stop slurmd, slurmctld and slurmdbd; with "cancel", cancel every job
# first so that no slurmstepd outlives slurmd (without, running jobs survive a restart).
stop_slurm() {
    local deadline
    if ctld_ok; then
        if [[ ${1:-} == cancel && -n $(squeue -h -o %A 2>/dev/null) ]]; then
            squeue -h -o %A | xargs -r scancel 2>/dev/null || true
            deadline=$((SECONDS + KILL_WAIT + 20))
            while [[ -n $(squeue -h -t PD,R,CG,S -o %A 2>/dev/null) ]] && ((SECONDS < deadline)); do
                sleep 0.5
            done
        fi
        scontrol shutdown >/dev/null 2>&1 || true
    fi
    stop_pid slurmd "$RUN/slurmd.pid"
    stop_pid slurmctld "$RUN/slurmctld.pid"
    stop_pid slurmdbd "$RUN/slurmdbd.pid"
}

cmd_up() {
    local started changed
    started=$(now)
    check_host
    mkdir -p "$LOG" "$RUN"
    install_packages
    changed=$(write_configs)
    if [[ -n $changed ]] && { pid_alive "$RUN/slurmctld.pid" || pid_alive "$RUN/slurmd.pid" \
        || pid_alive "$RUN/slurmdbd.pid"; }; then
        say "configuration changed: restarting the SLURM daemons (jobs keep running)"
        stop_slurm
    fi
    if munge_ok && db_ok && dbd_ok && ctld_ok && node_ok; then
        rm -f "$STATE/unavailable"
        say "already up ($(since "$started")s)"
        return 0
    fi
    start_munge
    start_mariadb
    start_slurmdbd
    start_slurmctld
    start_slurmd
    rm -f "$STATE/unavailable"
    say "cluster $CLUSTER up in $(since "$started")s (logs: $LOG)"
}

cmd_down() {
    [[ $EUID -eq 0 ]] || { say "error: needs root"; exit 1; }
    stop_slurm cancel
    if db_ok; then
        mysqladmin shutdown >/dev/null 2>&1 || true
    fi
    stop_pid mysqld "$MYSQLD_PIDFILE"
    stop_pid mysqld_safe "$RUN/mysqld_safe.pid"
    stop_pid munged "$MUNGE_PIDFILE"
    say "cluster $CLUSTER down"
}

cmd_status() {
    local ok=0
    printf '%-10s %s\n' munge "$(munge_ok && echo up || echo down)"
    printf '%-10s %s\n' mariadb "$(db_ok && echo up || echo down)"
    printf '%-10s %s\n' slurmdbd "$(dbd_ok && echo up || echo down)"
    printf '%-10s %s\n' slurmctld "$(ctld_ok && echo up || echo down)"
    printf '%-10s %s\n' slurmd "$(pid_alive "$RUN/slurmd.pid" && echo up || echo down)"
    if ctld_ok; then
        sinfo
        node_ok && ok=1
    fi
    ((ok))
}

case ${1:-} in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    *)
        echo "usage: $0 up|down|status" >&2
        exit 2
        ;;
esac
