#!/usr/bin/env bash
# build/slurm-cluster.sh -- a real two-node Slurm cluster on one Linux machine,
# for the sac Slurm placement tests.
#
#   build/slurm-cluster.sh up      # idempotent; fast no-op when already up
#   build/slurm-cluster.sh down    # stop slurmd/slurmctld, remove netns + bridge
#   build/slurm-cluster.sh status  # sinfo
#
# Layout (needs root, iproute2, util-linux unshare):
#   host ("login node")  : bridge sacbr0 10.77.0.1/24, slurmctld, munged
#   node1 / node2        : netns sac-node1 / sac-node2 (10.77.0.11 / .12) with a
#                          veth into sacbr0; slurmd runs there in its own UTS
#                          (hostname node1/node2), PID and mount(/proc) namespace.
#                          The filesystem is shared with the host (like NFS).
# Slurm: /etc/slurm/slurm.conf (only written if absent or carrying our marker),
# state in /var/spool/sac-slurm, pid files in /run/sac-slurm,
# logs in /var/log/sac-slurm/{slurmctld,slurmd.nodeN,nodeN.console}.log.
#
# Environment knobs: SAC_SLURM_NODE_CPUS (default 16 per node, oversubscribing
# the real cores on purpose), SAC_SLURM_PIDNS=0 (UTS namespace only, no PID ns),
# SAC_SLURM_NAT=0 (no ip_forward/MASQUERADE: nodes only reach 10.77.0.0/24),
# SAC_SLURM_TIMEOUT (seconds to wait for the nodes, default 90).
set -euo pipefail

MARKER='# sac test cluster (build/slurm-cluster.sh)'
CONF=/etc/slurm/slurm.conf
BR=sacbr0
HOST_IP=10.77.0.1
NODES=(node1 node2)
declare -A NODE_IP=([node1]=10.77.0.11 [node2]=10.77.0.12)
RUN=/run/sac-slurm
LOGDIR=/var/log/sac-slurm
SPOOL=/var/spool/sac-slurm
NODE_CPUS=${SAC_SLURM_NODE_CPUS:-16}
USE_PIDNS=${SAC_SLURM_PIDNS:-1}
READY_TIMEOUT=${SAC_SLURM_TIMEOUT:-90}
USE_NAT=${SAC_SLURM_NAT:-1}
NAT_ACTIVE=0
CLEAN_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH="$PATH:/usr/sbin:/sbin"
export SLURM_CONF="$CONF" # our own sinfo/scontrol calls

log() { echo "slurm-cluster: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"
if [ "${SAC_SLURM_DEBUG:-0}" = 1 ]; then
    PS4='+ $(date +%T.%3N) '
    set -x
fi

take_lock() { # fd 9; every daemon we start gets 9>&- so it does not keep the lock
    mkdir -p "$RUN"
    exec 9>"$RUN/lock"
    flock -w 180 9 || die "another build/slurm-cluster.sh holds $RUN/lock"
}

usable_state() { # sinfo %t short state without flags
    case "$1" in idle | mix | alloc | comp) return 0 ;; *) return 1 ;; esac
}

# 0 when both nodes answer in a usable state (cheap: one sinfo with a timeout)
cluster_ready() {
    local out n st ok=0
    [ -f "$CONF" ] || return 1
    command -v sinfo >/dev/null || return 1
    munge_ok || return 1
    # slurmctld notices a dead slurmd only after SlurmdTimeout: look locally
    for n in "${NODES[@]}"; do slurmd_pid "$n" >/dev/null || return 1; done
    ctld_pid >/dev/null || return 1
    out=$(timeout 5 sinfo -h -N -o '%N %t' 2>/dev/null) || return 1
    for n in "${NODES[@]}"; do
        st=$(awk -v n="$n" '$1 == n {print $2; exit}' <<<"$out")
        usable_state "$st" && ok=$((ok + 1))
    done
    [ "$ok" = "${#NODES[@]}" ]
}

# ---------------------------------------------------------------- packages
install_packages() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null &&
        command -v munged >/dev/null && command -v sinfo >/dev/null; then
        return 0
    fi
    log "installing slurm-wlm munge (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq slurm-wlm munge >/dev/null
    # the Debian packages may start their own daemons through init scripts;
    # we run our own with our config.
    command -v slurmctld >/dev/null || die "slurmctld still missing after apt-get"
}

# ---------------------------------------------------------------- munge
munge_ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

ensure_munge() {
    install -d -m 0700 -o munge -g munge /etc/munge
    if [ ! -s /etc/munge/munge.key ]; then
        log "creating /etc/munge/munge.key"
        if command -v mungekey >/dev/null; then
            mungekey --create --keyfile=/etc/munge/munge.key --force >/dev/null
        else
            dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
        fi
    fi
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
    munge_ok && return 0
    install -d -m 0755 -o munge -g munge /run/munge
    install -d -m 0700 -o munge -g munge /var/lib/munge /var/log/munge
    # a stale pid file / socket from a dead munged makes it refuse to start
    local p
    p=$(cat /run/munge/munged.pid 2>/dev/null || true)
    if [ -n "$p" ] && ! kill -0 "$p" 2>/dev/null; then
        rm -f /run/munge/munged.pid /run/munge/munge.socket.2 /run/munge/munge.socket.2.lock
    fi
    log "starting munged"
    setsid -f env -i PATH="$CLEAN_PATH" runuser -u munge -- /usr/sbin/munged </dev/null >/dev/null 2>&1 9>&- ||
        true
    local i
    for i in $(seq 1 50); do
        munge_ok && return 0
        sleep 0.1
    done
    tail -n 20 /var/log/munge/munged.log >&2 2>/dev/null || true
    die "munged does not answer (munge -n | unmunge)"
}

# ---------------------------------------------------------------- slurm.conf
render_conf() {
    local ctl
    ctl=$(hostname -s)
    cat <<EOF
$MARKER
# Generated; rewritten by every 'up' while this marker is the first line.
# Delete the marker line to keep local edits (the script then refuses to touch it).
ClusterName=sactest
SlurmctldHost=${ctl}(${HOST_IP})
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
# A requeued job is held (Reason=BeginTime) for cred_expire+1 seconds
# (default 120+1). 10 -> requeued jobs restart after ~11 s. Minimum is 5.
AuthInfo=cred_expire=10
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SwitchType=switch/none
# Nodes advertise the configured CPUs, not the 1-2 real cores.
SlurmdParameters=config_overrides
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
# batch_sched_delay=0: schedule a submitted batch job at once (default: up to 3 s).
# sched_interval=1: full scheduling pass every second (default 60 s); a job whose
# BeginTime just passed (e.g. a requeued job) triggers no event, and backfill
# only runs after job/node changes, so otherwise it may wait up to 60 s.
SchedulerParameters=bf_interval=1,batch_sched_delay=0,sched_interval=1
JobRequeue=1
ReturnToService=2
MinJobAge=300
KillWait=10
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MessageTimeout=10
Waittime=0
BatchStartTimeout=20
UnkillableStepTimeout=60
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=${SPOOL}/ctld
SlurmdSpoolDir=${SPOOL}/slurmd.%n
SlurmctldPidFile=${RUN}/slurmctld.pid
SlurmdPidFile=${RUN}/slurmd.%n.pid
SlurmctldLogFile=${LOGDIR}/slurmctld.log
SlurmdLogFile=${LOGDIR}/slurmd.%n.log
SlurmctldDebug=info
SlurmdDebug=info
NodeName=node1 NodeAddr=${NODE_IP[node1]} NodeHostname=node1 CPUs=${NODE_CPUS} State=UNKNOWN
NodeName=node2 NodeAddr=${NODE_IP[node2]} NodeHostname=node2 CPUs=${NODE_CPUS} State=UNKNOWN
PartitionName=debug Nodes=node1,node2 Default=YES MaxTime=INFINITE OverSubscribe=YES State=UP
EOF
}

write_conf() {
    mkdir -p "$(dirname "$CONF")"
    if [ -e "$CONF" ] && [ "$(head -n 1 "$CONF")" != "$MARKER" ]; then
        die "$CONF exists and was not written by this script (first line is not '$MARKER'); refusing to overwrite it. Move it away or add the marker as its first line."
    fi
    local new
    new=$(render_conf)
    if [ -f "$CONF" ] && [ "$(cat "$CONF")" = "$new" ]; then
        CONF_CHANGED=0
    else
        printf '%s\n' "$new" >"$CONF.tmp.$$"
        chmod 0644 "$CONF.tmp.$$"
        mv -f "$CONF.tmp.$$" "$CONF"
        CONF_CHANGED=1
    fi
    # slurmd 22.05 always loads a cgroup plugin at start even with
    # proctrack/linuxproc + task/none. "autodetect" fails inside a network
    # namespace (ip netns exec remounts /sys: no /sys/fs/cgroup) and cgroup/v2
    # wants a systemd-delegated scope. cgroup/v1's init() touches nothing, and
    # nothing else uses cgroups with this config, so pin it (works on v1 and
    # v2 hosts alike).
    local cg cgnew
    cg=$(dirname "$CONF")/cgroup.conf
    cgnew=$(printf '%s\n%s\n' "$MARKER" "CgroupPlugin=cgroup/v1")
    if [ ! -e "$cg" ] || { [ "$(head -n 1 "$cg")" = "$MARKER" ] && [ "$(cat "$cg")" != "$cgnew" ]; }; then
        printf '%s\n' "$cgnew" >"$cg"
        CONF_CHANGED=1
    elif [ "$(head -n 1 "$cg")" != "$MARKER" ]; then
        grep -qiE '^[[:space:]]*CgroupPlugin[[:space:]]*=[[:space:]]*cgroup/v1' "$cg" ||
            log "WARNING: $cg is not ours and does not set CgroupPlugin=cgroup/v1; slurmd may fail to start"
    fi
    mkdir -p "$RUN" "$LOGDIR" "$SPOOL/ctld"
    local n
    for n in "${NODES[@]}"; do mkdir -p "$SPOOL/slurmd.$n"; done
}

# ---------------------------------------------------------------- network
have_iptables() { command -v iptables >/dev/null && iptables -w -S >/dev/null 2>&1; }

# iptables rules we own; each is "table|chain|rule args"
fw_rules() {
    local net=${HOST_IP%.*}.0/24
    echo "filter|INPUT|-i $BR -j ACCEPT"
    echo "filter|OUTPUT|-o $BR -j ACCEPT"
    echo "filter|FORWARD|-i $BR -o $BR -j ACCEPT"
    if [ "$USE_NAT" = 1 ]; then
        echo "filter|FORWARD|-i $BR ! -o $BR -j ACCEPT"
        echo "filter|FORWARD|-o $BR -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"
        echo "nat|POSTROUTING|-s $net ! -o $BR -j MASQUERADE"
    fi
}

open_firewall() {
    # Host<->node traffic traverses INPUT/OUTPUT; node<->node traffic is
    # bridged, but with br_netfilter loaded (bridge-nf-call-iptables=1) it
    # traverses FORWARD, which Docker & co set to DROP. Outbound traffic of
    # the nodes (DNS, package mirrors, APIs) needs forwarding + MASQUERADE.
    # All rules are inserted at the top and tagged with a comment.
    NAT_ACTIVE=0
    have_iptables || return 0
    local t c r
    while IFS='|' read -r t c r; do
        # shellcheck disable=SC2086
        iptables -w -t "$t" -C "$c" $r -m comment --comment sac-slurm 2>/dev/null ||
            iptables -w -t "$t" -I "$c" 1 $r -m comment --comment sac-slurm ||
            log "WARNING: could not add iptables rule: -t $t $c $r"
    done < <(fw_rules)
    if [ "$USE_NAT" = 1 ]; then
        if [ "$(cat /proc/sys/net/ipv4/ip_forward)" != 1 ]; then
            [ -e "$RUN/ip_forward.orig" ] || cat /proc/sys/net/ipv4/ip_forward >"$RUN/ip_forward.orig"
            echo 1 >/proc/sys/net/ipv4/ip_forward
        fi
        NAT_ACTIVE=1
    fi
}

close_firewall() {
    if have_iptables; then
        local t c r
        while IFS='|' read -r t c r; do
            # shellcheck disable=SC2086
            iptables -w -t "$t" -D "$c" $r -m comment --comment sac-slurm 2>/dev/null || true
        done < <(USE_NAT=1 fw_rules)
    fi
    if [ -e "$RUN/ip_forward.orig" ]; then
        cat "$RUN/ip_forward.orig" >/proc/sys/net/ipv4/ip_forward || true
        rm -f "$RUN/ip_forward.orig"
    fi
}

# /etc/netns/<ns>/{hosts,resolv.conf} are bind-mounted over /etc/ by
# 'ip netns exec', so slurmd and its jobs see them (the host does not).
write_netns_etc() {
    local n=$1 d="/etc/netns/sac-$1" ns_list="" m
    mkdir -p "$d"
    {
        echo "# sac test cluster (build/slurm-cluster.sh): /etc/hosts inside sac-$n"
        echo "127.0.0.1 localhost"
        echo "$HOST_IP $(hostname -s) sac-login"
        for m in "${NODES[@]}"; do echo "${NODE_IP[$m]} $m"; done
        echo "::1 localhost ip6-localhost ip6-loopback"
    } >"$d/hosts"
    if [ "$NAT_ACTIVE" = 1 ]; then
        # the host's resolvers, unless loopback (systemd-resolved stub): then
        # the upstream ones systemd-resolved uses
        ns_list=$(awk '$1 == "nameserver" && $2 !~ /^(127\.|::1$)/ {print $2}' /etc/resolv.conf 2>/dev/null)
        [ -n "$ns_list" ] || ns_list=$(awk '$1 == "nameserver" && $2 !~ /^(127\.|::1$)/ {print $2}' \
            /run/systemd/resolve/resolv.conf 2>/dev/null || true)
    fi
    {
        echo "# sac test cluster (build/slurm-cluster.sh): resolv.conf inside sac-$n"
        if [ -n "$ns_list" ]; then
            for m in $ns_list; do echo "nameserver $m"; done
            grep -E '^(search|domain)[[:space:]]' /etc/resolv.conf 2>/dev/null || true
            echo "options timeout:2 attempts:2"
        else
            # no way out of the namespace: make lookups fail at once instead
            # of hanging 10 s per query on an unreachable resolver
            echo "nameserver 127.0.0.1"
            echo "options timeout:1 attempts:1"
        fi
    } >"$d/resolv.conf"
}

ensure_bridge() {
    if ! ip link show "$BR" >/dev/null 2>&1; then
        ip link add "$BR" type bridge stp_state 0 forward_delay 0
    fi
    ip addr replace "$HOST_IP/24" dev "$BR"
    ip link set "$BR" up
    open_firewall
}

netns_exists() { [ -e "/run/netns/sac-$1" ]; }

veth_of() { echo "vsac-$1"; } # host side of the node's veth (<=15 chars)

# pids (host view) of every process inside node $1's network namespace
netns_pids() { netns_exists "$1" && ip netns pids "sac-$1" 2>/dev/null || true; }

# 0 when pid $1 is a live (not zombie) process named $2
is_proc() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    # "pid (comm) S ..." -- comm may contain spaces, the state follows ") "
    [ "${stat#*) }" != "$stat" ] || return 1
    case "${stat##*) }" in Z* | X*) return 1 ;; esac
    [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ]
}

slurmd_pid() { # host pid of node $1's slurmd, if running
    local p
    for p in $(netns_pids "$1"); do
        is_proc "$p" slurmd && { echo "$p"; return 0; }
    done
    return 1
}

kill_netns_procs() { # TERM slurmd, then KILL everything left in the netns
    local n=$1 p i
    p=$(slurmd_pid "$n" || true)
    if [ -n "$p" ]; then
        kill -TERM "$p" 2>/dev/null || true
        for i in $(seq 1 50); do
            is_proc "$p" slurmd || break
            sleep 0.1
        done
    fi
    for i in 1 2 3; do
        p=$(netns_pids "$n")
        [ -z "$p" ] && break
        # shellcheck disable=SC2086
        kill -KILL $p 2>/dev/null || true
        sleep 0.2
    done
}

setup_node_net() {
    local n=$1 ns="sac-$1" v
    v=$(veth_of "$n")
    netns_exists "$n" || ip netns add "$ns"
    if ! ip link show "$v" >/dev/null 2>&1; then
        ip -n "$ns" link del eth0 2>/dev/null || true
        ip link add "$v" type veth peer name eth0 netns "$ns"
    fi
    ip link set "$v" master "$BR"
    ip link set "$v" up
    ip -n "$ns" link set lo up
    ip -n "$ns" addr replace "${NODE_IP[$n]}/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" route replace default via "$HOST_IP" dev eth0
}

# ---------------------------------------------------------------- daemons
start_node() {
    local n=$1 ns="sac-$1" unsh
    rm -f "$RUN/slurmd.$n.pid"
    mkdir -p "$SPOOL/slurmd.$n"
    write_netns_etc "$n"
    # sh (not slurmd) is PID 1 of the node's PID namespace: dash reaps every
    # child while waiting, so orphaned job processes do not pile up as zombies.
    # The trailing 'echo' stops dash from exec'ing slurmd as PID 1 (slurmd as
    # PID 1 would not reap reparented orphans).
    if [ "$USE_PIDNS" = 1 ]; then
        unsh=(unshare --uts --pid --fork --mount-proc --propagation slave)
    else
        unsh=(unshare --uts)
    fi
    echo "=== $(date -Is) starting slurmd $n (pidns=$USE_PIDNS)" >>"$LOGDIR/$n.console.log"
    setsid -f env -i PATH="$CLEAN_PATH" HOME=/root LANG=C.UTF-8 \
        ip netns exec "$ns" "${unsh[@]}" \
        sh -c 'hostname "$1"; slurmd -D -N "$1" -f "$2"; echo "slurmd $1 exited rc=$?"' sh "$n" "$CONF" \
        </dev/null >>"$LOGDIR/$n.console.log" 2>&1 9>&-
}

ctld_pid() {
    local p
    p=$(cat "$RUN/slurmctld.pid" 2>/dev/null || true)
    if [ -n "$p" ] && is_proc "$p" slurmctld; then
        echo "$p"
        return 0
    fi
    # pid file gone or not written yet: a live slurmctld running our config
    for p in $(pgrep -x slurmctld || true); do
        is_proc "$p" slurmctld || continue
        tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qF -- "-f $CONF " || continue
        echo "$p"
        return 0
    done
    return 1
}

start_ctld() {
    rm -f "$RUN/slurmctld.pid"
    echo "=== $(date -Is) starting slurmctld" >>"$LOGDIR/slurmctld.console.log"
    # -i: ignore unreadable state files left by an older run
    setsid -f env -i PATH="$CLEAN_PATH" HOME=/root LANG=C.UTF-8 \
        slurmctld -D -i -f "$CONF" </dev/null >>"$LOGDIR/slurmctld.console.log" 2>&1 9>&-
}

stop_ctld() {
    local p i
    p=$(ctld_pid || true)
    [ -n "$p" ] || return 0
    kill -TERM "$p" 2>/dev/null || true
    for i in $(seq 1 100); do
        is_proc "$p" slurmctld || break
        sleep 0.1
    done
    kill -KILL "$p" 2>/dev/null || true
    rm -f "$RUN/slurmctld.pid"
}

show_logs() {
    local f
    for f in "$LOGDIR/slurmctld.log" "$LOGDIR/slurmctld.console.log" \
        "$LOGDIR"/slurmd.node*.log "$LOGDIR"/node*.console.log; do
        [ -f "$f" ] || continue
        echo "----- last lines of $f" >&2
        tail -n 25 "$f" >&2
    done
}

# 0 when every node we (re)started in this run has registered after we
# started it (slurmctld may still show a just-restarted node as idle from
# before, while the new slurmd is not listening yet)
nodes_registered_since() {
    local since=$1 n t
    for n in "${STARTED_NODES[@]}"; do
        t=$(timeout 5 scontrol -o show node "$n" 2>/dev/null |
            sed -n 's/.*SlurmdStartTime=\([^ ]*\).*/\1/p')
        case "$t" in '' | None | Unknown) return 1 ;; esac
        t=$(date -d "$t" +%s 2>/dev/null) || return 1
        [ "$t" -ge "$since" ] || return 1
    done
    return 0
}

wait_ready() {
    local start=$1 out n st last_resume=0 now ok bad
    while :; do
        now=$(date +%s)
        ok=0
        bad=()
        out=$(timeout 5 sinfo -h -N -o '%N %t' 2>/dev/null) || out=
        if [ -n "$out" ]; then
            for n in "${NODES[@]}"; do
                st=$(awk -v n="$n" '$1 == n {print $2; exit}' <<<"$out")
                if usable_state "$st"; then
                    ok=$((ok + 1))
                else
                    # DOWN/DRAIN left from an older run (state without '*',
                    # i.e. the slurmd answers): resume it.
                    case "$st" in down | drain | drng | fail | failg | inval) bad+=("$n") ;; esac
                fi
            done
            if [ "$ok" = "${#NODES[@]}" ] && nodes_registered_since "$NODES_STARTED_TS"; then
                return 0
            fi
        fi
        # a slurmd that died (bad config, ...) will not come back: fail fast
        if [ $((now - NODES_STARTED)) -ge 5 ]; then
            for n in "${NODES[@]}"; do
                if ! slurmd_pid "$n" >/dev/null; then
                    log "slurmd on $n is not running"
                    show_logs
                    return 1
                fi
            done
        fi
        if [ -n "$out" ]; then
            if [ "${#bad[@]}" -gt 0 ] && [ $((now - last_resume)) -ge 3 ]; then
                scontrol update nodename="$(
                    IFS=,
                    echo "${bad[*]}"
                )" state=resume >/dev/null 2>&1 || true
                last_resume=$now
            fi
        fi
        if [ $((now - start)) -ge "$READY_TIMEOUT" ]; then
            log "nodes not ready after ${READY_TIMEOUT}s; sinfo says:"
            timeout 5 sinfo -N -l >&2 2>&1 || true
            timeout 5 scontrol show node >&2 2>&1 | grep -E 'NodeName|State|Reason' >&2 || true
            show_logs
            return 1
        fi
        sleep 0.5
    done
}

check_connectivity() {
    # node1 -> node2 slurmd port and node -> host slurmctld port (bash /dev/tcp)
    ip netns exec sac-node1 timeout 3 bash -c "exec 3<>/dev/tcp/${NODE_IP[node2]}/6818" 2>/dev/null ||
        log "WARNING: node1 cannot reach node2 (${NODE_IP[node2]}:6818); check firewall/br_netfilter"
    ip netns exec sac-node2 timeout 3 bash -c "exec 3<>/dev/tcp/${HOST_IP}/6817" 2>/dev/null ||
        log "WARNING: node2 cannot reach the host (${HOST_IP}:6817); check firewall"
}

ctld_answers() { timeout 5 scontrol ping 2>/dev/null | grep -q 'is UP'; }

cmd_up() {
    local t0 n restart_ctld=0 reconf_nodes=0 i
    t0=$(date +%s)
    T0_NS=$(date +%s%N)
    if [ -f "$CONF" ] && [ "$(head -n 1 "$CONF")" = "$MARKER" ] && [ "$(cat "$CONF")" = "$(render_conf)" ] &&
        cluster_ready; then
        echo "slurm: ${#NODES[@]} nodes ready in 0 s (already up)"
        return 0
    fi
    # one 'up'/'down' at a time (e.g. several pytest workers); re-check after
    # waiting for the lock: another caller may just have brought it up
    take_lock
    if [ "$(cat "$CONF" 2>/dev/null)" = "$(render_conf)" ] && cluster_ready; then
        echo "slurm: ${#NODES[@]} nodes ready in 0 s (already up)"
        return 0
    fi
    install_packages
    ensure_munge
    CONF_CHANGED=0
    write_conf
    ensure_bridge
    for n in "${NODES[@]}"; do
        if slurmd_pid "$n" >/dev/null; then
            setup_node_net "$n" # idempotent; keeps the running slurmd and its jobs
            write_netns_etc "$n"
            [ "$CONF_CHANGED" = 1 ] && reconf_nodes=1
        else
            # stale or missing: start from a clean namespace
            kill_netns_procs "$n"
            netns_exists "$n" && ip netns del "sac-$n"
            ip link del "$(veth_of "$n")" 2>/dev/null || true
            setup_node_net "$n"
        fi
    done
    if ctld_pid >/dev/null; then
        # a changed slurm.conf: restart slurmctld (jobs survive in its state
        # save) and 'scontrol reconfigure' the running slurmds below; slurmd
        # is not restarted because that would kill the node's PID namespace
        # and every job in it.
        [ "$CONF_CHANGED" = 1 ] && restart_ctld=1
        ctld_answers || restart_ctld=1
        if [ "$restart_ctld" = 1 ]; then
            log "restarting slurmctld"
            stop_ctld
            start_ctld
        fi
    else
        start_ctld
        restart_ctld=1
    fi
    # running slurmds re-register with a new slurmctld only at its next node
    # ping (up to ~10 s); 'scontrol reconfigure' makes them do it at once
    if [ "$restart_ctld" = 1 ]; then
        for n in "${NODES[@]}"; do slurmd_pid "$n" >/dev/null && reconf_nodes=1; done
    fi
    NODES_STARTED=$(date +%s)
    NODES_STARTED_TS=$NODES_STARTED
    STARTED_NODES=()
    for n in "${NODES[@]}"; do
        if ! slurmd_pid "$n" >/dev/null; then
            start_node "$n"
            STARTED_NODES+=("$n")
        fi
    done
    if [ "$reconf_nodes" = 1 ]; then
        for i in $(seq 1 40); do
            ctld_answers && break
            sleep 0.25
        done
        scontrol reconfigure >/dev/null 2>&1 || log "WARNING: scontrol reconfigure failed"
    fi
    if ! wait_ready "$t0"; then
        exit 1
    fi
    check_connectivity
    local ms=$((($(date +%s%N) - T0_NS) / 1000000))
    echo "slurm: ${#NODES[@]} nodes ready in $((ms / 1000)).$(printf %03d $((ms % 1000)) | cut -c1) s"
}

cmd_down() {
    local n
    take_lock
    for n in "${NODES[@]}"; do
        kill_netns_procs "$n"
        netns_exists "$n" && ip netns del "sac-$n"
        ip link del "$(veth_of "$n")" 2>/dev/null || true
        rm -f "$RUN/slurmd.$n.pid"
        rm -rf "/etc/netns/sac-$n"
    done
    stop_ctld
    ip link del "$BR" 2>/dev/null || true
    close_firewall
    # forget jobs/node states so the next 'up' starts clean (logs are kept)
    rm -rf "${SPOOL:?}"/ctld "${SPOOL:?}"/slurmd.*
    echo "slurm: down"
}

cmd_status() {
    local n p
    if ! command -v sinfo >/dev/null; then
        echo "slurm: not installed"
        return 1
    fi
    p=$(ctld_pid || true)
    echo "slurmctld: $([ -n "$p" ] && echo "pid $p" || echo "not running")"
    for n in "${NODES[@]}"; do
        p=$(slurmd_pid "$n" || true)
        echo "slurmd $n (${NODE_IP[$n]}, netns sac-$n): $([ -n "$p" ] && echo "pid $p" || echo "not running")"
    done
    timeout 10 sinfo -N -l || {
        echo "slurm: controller not answering"
        return 1
    }
}

case "${1:-}" in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
*)
    echo "usage: $0 up|down|status" >&2
    exit 2
    ;;
esac
