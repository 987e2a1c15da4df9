#!/usr/bin/env bash
# build/ssh-hosts.sh -- two real OpenSSH hosts on one Linux machine, for the
# sac ssh-fleet tests.
#
#   build/ssh-hosts.sh up                    # idempotent; fast no-op when both hosts answer
#   build/ssh-hosts.sh down                  # kill everything in the hosts, remove netns + bridge
#   build/ssh-hosts.sh status                # one line per host: address, sshd pid, link
#   build/ssh-hosts.sh link HOST down|up     # fault injection: HOST leaves / rejoins the network
#   build/ssh-hosts.sh sshd HOST stop|start  # kill HOST's sshd (listener + sessions) / start it
#
# Layout (needs root, iproute2, util-linux unshare; iptables when a firewall is on):
#   host               : bridge sacbr1 10.78.0.1/24 (no NAT: the hosts only reach 10.78.0.0/24)
#   sshhost1 / sshhost2: netns sac-ssh1 / sac-ssh2 (10.78.0.11 / .12) with a veth
#                        (vsac-ssh1 / vsac-ssh2) into sacbr1; /usr/sbin/sshd runs
#                        there in its own UTS namespace (hostname sshhost1/2),
#                        listening on its address, port 22, only. Filesystem,
#                        users and PIDs are shared with the host (like NFS homes).
# Files: config /run/sac-ssh/HOST/sshd_config (rewritten by every up), pid file
# /run/sac-ssh/HOST/sshd.pid, host key /var/lib/sac-ssh/HOST/ssh_host_ed25519_key
# (generated once, kept by down so known_hosts entries stay valid), log
# /var/log/sac-ssh/HOST.log. Both hosts read /run/sac-ssh/authorized_keys (for
# every user); the test suite writes its public key there. root's ~/.ssh is
# never read or written.
#
# 'up' repairs what it finds (a downed link, a stopped sshd, a changed config)
# but never kills processes in the hosts; only 'down' and 'sshd HOST stop' do.
#
# If this script installed openssh-server, it also created
# /etc/ssh/sshd_not_to_be_run so Debian's own host-wide ssh service (init script
# or systemd unit) never starts; delete that file to run a host-wide sshd.
#
# Environment knobs: SAC_SSH_TIMEOUT (seconds to wait for sshd, default 30),
# SAC_SSH_DEBUG=1 (trace).
set -euo pipefail

BR=sacbr1
HOST_IP=10.78.0.1
# Fixed locally administered MACs: a Linux bridge otherwise takes the lowest
# MAC of its ports, so re-creating a host's veth would change the gateway's MAC
# under the other host's ARP cache (and a re-created host would change its own
# MAC under the host's ARP cache): seconds of silence until the entries expire.
BR_MAC=02:00:0a:4e:00:01
HOSTS=(sshhost1 sshhost2)
declare -A HOST_ADDR=([sshhost1]=10.78.0.11 [sshhost2]=10.78.0.12)
declare -A HOST_NS=([sshhost1]=sac-ssh1 [sshhost2]=sac-ssh2)
declare -A HOST_VETH=([sshhost1]=vsac-ssh1 [sshhost2]=vsac-ssh2) # host side, <= 15 chars
declare -A HOST_MAC=([sshhost1]=02:00:0a:4e:00:0b [sshhost2]=02:00:0a:4e:00:0c)
RUN=/run/sac-ssh
STATE=/var/lib/sac-ssh
LOGDIR=/var/log/sac-ssh
AUTH_KEYS=$RUN/authorized_keys
SSHD=/usr/sbin/sshd # absolute: sshd re-executes itself for every connection
FW_TAG=sac-ssh
READY_TIMEOUT=${SAC_SSH_TIMEOUT:-30}
CLEAN_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH="$PATH:/usr/sbin:/sbin"
# sshd's StrictModes rejects a group/world-writable authorized_keys or parent dir
umask 022

log() { echo "ssh-hosts: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"
if [ "${SAC_SSH_DEBUG:-0}" = 1 ]; then
    PS4='+ $(date +%T.%3N) '
    set -x
fi

take_lock() { # fd 9; sshd is started with 9>&- so it does not keep the lock
    mkdir -p "$RUN"
    exec 9>"$RUN/lock"
    flock -w 120 9 || die "another build/ssh-hosts.sh holds $RUN/lock"
}

check_host_arg() {
    [ -n "${HOST_ADDR[${1:-}]+x}" ] || die "unknown host '${1:-}' (expected: ${HOSTS[*]})"
}

# ---------------------------------------------------------------- processes
# Process and link checks read /proc and /sys with builtins (no fork), so a
# warm 'up' stays well under 0.2 s.

# 0 when pid $1 is a live (not zombie) process whose comm is one of $2...
is_proc() {
    local p=$1 stat comm c
    shift
    read -r stat 2>/dev/null <"/proc/$p/stat" || return 1
    # "pid (comm) S ..." -- comm may contain spaces, the state follows ") "
    [ "${stat#*) }" != "$stat" ] || return 1
    case "${stat##*) }" in Z* | X*) return 1 ;; esac
    read -r comm 2>/dev/null <"/proc/$p/comm" || return 1
    for c in "$@"; do [ "$comm" = "$c" ] && return 0; done
    return 1
}

netns_exists() { [ -e "/run/netns/${HOST_NS[$1]}" ]; }

# 0 when pid $2 lives in host $1's network namespace (same nsfs inode)
in_netns() { [ "/proc/$2/ns/net" -ef "/run/netns/${HOST_NS[$1]}" ]; }

# pids (host view) of every process inside host $1's network namespace
netns_pids() { netns_exists "$1" && ip netns pids "${HOST_NS[$1]}" 2>/dev/null || true; }

# sshd >= 9.8 splits the per-connection part into sshd-session / sshd-auth
SSHD_COMMS=(sshd sshd-session sshd-auth)

sshd_pid() { # pid of host $1's sshd listener, if running
    local p args
    netns_exists "$1" || return 1
    read -r p 2>/dev/null <"$RUN/$1/sshd.pid" || p=
    if [ -n "$p" ] && is_proc "$p" sshd && in_netns "$1" "$p"; then
        echo "$p"
        return 0
    fi
    # pid file removed or stale (e.g. an sshd started by hand): the listener
    # calls itself "sshd: /usr/sbin/sshd -f ... [listener] N of ... startups"
    for p in $(netns_pids "$1"); do
        is_proc "$p" sshd || continue
        args=$(tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline") || continue
        case "$args" in *"[listener]"*)
            echo "$p"
            return 0
            ;;
        esac
    done
    return 1
}

# 0 when an SSH server greets on $1:22 within 2 s. The greeting, not just a
# TCP connect: the kernel completes handshakes into the listen backlog by
# itself; the banner shows sshd really serves connections.
ssh_answers() { # $1 address, $2 netns to connect from (default: the machine)
    local pre=()
    [ -z "${2:-}" ] || pre=(ip netns exec "$2")
    "${pre[@]}" timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/22" && read -r -t 2 l <&3 && [[ $l == SSH-* ]]' \
        _ "$1" 2>/dev/null
}

host_ready() {
    local h=$1 conf
    read -r -d '' conf 2>/dev/null <"$RUN/$h/sshd_config" || true
    [ "$conf" = "$(render_conf "$h")" ] || return 1
    # a downed link would cost the 2 s greeting timeout
    link_is_up "$h" || return 1
    sshd_pid "$h" >/dev/null || return 1
    ssh_answers "${HOST_ADDR[$h]}"
}

# 0 when our iptables rules are in place (or there is no iptables); the
# greeting check above only covers host<->netns, not netns<->netns (FORWARD)
fw_ok() {
    command -v iptables >/dev/null || return 0
    local c r
    while IFS='|' read -r c r; do
        # shellcheck disable=SC2086
        iptables -w -C "$c" $r -m comment --comment "$FW_TAG" 2>/dev/null || return 1
    done < <(fw_rules)
}

hosts_ready() {
    local h
    [ -x "$SSHD" ] && [ -f "$AUTH_KEYS" ] || return 1
    fw_ok || return 1
    for h in "${HOSTS[@]}"; do host_ready "$h" || return 1; done
}

# ---------------------------------------------------------------- packages
# sshd processes of the machine itself (host network namespace)
host_sshd_pids() {
    local p
    for p in $(pgrep -x sshd || true); do
        [ "/proc/$p/ns/net" -ef /proc/self/ns/net ] && echo "$p"
    done
    return 0
}

POLICY=/usr/sbin/policy-rc.d
POLICY_SAVED=$POLICY.sac-ssh-saved

restore_policy() {
    rm -f "$POLICY"
    [ ! -e "$POLICY_SAVED" ] || mv -f "$POLICY_SAVED" "$POLICY"
}

install_sshd() {
    [ -x "$SSHD" ] && return 0
    local before p
    log "installing openssh-server (apt-get)"
    before=" $(host_sshd_pids | tr '\n' ' ') "
    # Debian's own ssh service must not start: it would listen on 0.0.0.0:22
    # of this machine. policy-rc.d exit 101 ("action forbidden") makes the
    # maintainer scripts skip every start, an existing one (Docker images ship
    # one) is put back afterwards. sshd_not_to_be_run keeps the init script /
    # systemd unit from starting it later (boot, upgrades); our sshd ignores it.
    [ ! -e "$POLICY_SAVED" ] || restore_policy # left by an interrupted run
    [ ! -e "$POLICY" ] || mv -f "$POLICY" "$POLICY_SAVED"
    trap restore_policy EXIT
    printf '#!/bin/sh\n# build/ssh-hosts.sh: no service starts during its apt-get\nexit 101\n' >"$POLICY"
    chmod 0755 "$POLICY"
    mkdir -p /etc/ssh
    touch /etc/ssh/sshd_not_to_be_run
    # NEEDRESTART_SUSPEND: needrestart's apt hook would restart services
    export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
    apt-get update -qq
    # no Recommends: they pull in libpam-systemd/systemd, xauth, ...
    apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=120 \
        openssh-server >/dev/null
    restore_policy
    trap - EXIT
    [ -x "$SSHD" ] || die "$SSHD still missing after apt-get install openssh-server"
    # belt and braces: an sshd of the machine that appeared during the install
    for p in $(host_sshd_pids); do
        case "$before" in *" $p "*) continue ;; esac
        log "stopping the host-wide sshd (pid $p) the package install started"
        kill -TERM "$p" 2>/dev/null || true
    done
}

# ---------------------------------------------------------------- config
render_conf() {
    local h=$1
    cat <<EOF
# sac ssh test host $h (build/ssh-hosts.sh); rewritten by every 'up'.
ListenAddress ${HOST_ADDR[$h]}:22
AddressFamily inet
HostKey $STATE/$h/ssh_host_ed25519_key
PidFile $RUN/$h/sshd.pid
AuthorizedKeysFile $AUTH_KEYS
PubkeyAuthentication yes
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes yes
# one ControlMaster connection carries many concurrent commands
MaxSessions 64
MaxStartups 100:30:200
# a host that vanished (link down) frees its sessions after ~15 s
ClientAliveInterval 5
ClientAliveCountMax 3
UseDNS no
LogLevel VERBOSE
PrintMotd no
PrintLastLog no
AcceptEnv LANG LC_*
# scp uses the sftp protocol since OpenSSH 9.0; internal: no extra binary
Subsystem sftp internal-sftp
EOF
}

prepare_files() {
    local h shadow
    install -d -m 0755 "$RUN" "$LOGDIR" /run/sshd # /run/sshd: sshd's privsep chroot
    install -d -m 0755 "$STATE"
    if [ ! -e "$AUTH_KEYS" ]; then
        install -m 0644 /dev/null "$AUTH_KEYS"
    elif [ -n "$(find "$AUTH_KEYS" -perm /022 2>/dev/null)" ]; then
        log "WARNING: $AUTH_KEYS is group/world writable: StrictModes makes sshd ignore it"
    fi
    for h in "${HOSTS[@]}"; do
        install -d -m 0755 "$RUN/$h"
        install -d -m 0700 "$STATE/$h"
        if [ ! -s "$STATE/$h/ssh_host_ed25519_key" ]; then
            rm -f "$STATE/$h/ssh_host_ed25519_key" "$STATE/$h/ssh_host_ed25519_key.pub"
            ssh-keygen -q -t ed25519 -N '' -C "root@$h" -f "$STATE/$h/ssh_host_ed25519_key"
        fi
    done
    # Without PAM, sshd refuses accounts whose password field starts with '!'
    # (passwd -l; Debian installs without a root password do this): say so
    # instead of leaving a bare "Permission denied (publickey)".
    shadow=$(getent shadow root 2>/dev/null | cut -d: -f2) || true
    case "$shadow" in '!'*)
        log "WARNING: root's password is locked ('!' in /etc/shadow); with UsePAM no sshd refuses root logins (usermod -p '*' root fixes that)"
        ;;
    esac
}

# writes host $1's config; CONF_CHANGED=1 when it differs from the one on disk
write_conf() {
    local h=$1 f="$RUN/$1/sshd_config" old new
    new=$(render_conf "$h")
    old=
    [ ! -f "$f" ] || read -r -d '' old <"$f" || true
    CONF_CHANGED=0
    if [ "$old" != "$new" ]; then
        printf '%s\n' "$new" >"$f.tmp.$$"
        mv -f "$f.tmp.$$" "$f"
        CONF_CHANGED=1
    fi
    "$SSHD" -t -f "$f" || die "sshd rejects $f (see above)"
}

# /etc/netns/<ns>/{hosts,resolv.conf} are bind-mounted over /etc/ by
# 'ip netns exec', so sshd and everything started through ssh see them. The
# hosts have no way out of 10.78.0.0/24: without this, any lookup (hostname -f,
# getfqdn) would hang on the host's unreachable resolver for ~10 s.
write_netns_etc() {
    local h=$1 d="/etc/netns/${HOST_NS[$1]}" m
    mkdir -p "$d"
    # written in place (not renamed): a running host has them bind-mounted
    {
        echo "# sac ssh test host $h (build/ssh-hosts.sh): /etc/hosts inside ${HOST_NS[$h]}"
        echo "127.0.0.1 localhost"
        echo "$HOST_IP $(hostname -s) sac-ssh-gw"
        for m in "${HOSTS[@]}"; do echo "${HOST_ADDR[$m]} $m"; done
        echo "::1 localhost ip6-localhost ip6-loopback"
    } >"$d/hosts"
    {
        echo "# sac ssh test host $h (build/ssh-hosts.sh): no resolver reachable, fail at once"
        echo "nameserver 127.0.0.1"
        echo "options timeout:1 attempts:1"
    } >"$d/resolv.conf"
}

# ---------------------------------------------------------------- network
have_iptables() { command -v iptables >/dev/null && iptables -w -S >/dev/null 2>&1; }

# iptables rules we own (filter table); each is "chain|rule args"
fw_rules() {
    echo "INPUT|-i $BR -j ACCEPT"
    echo "OUTPUT|-o $BR -j ACCEPT"
    echo "FORWARD|-i $BR -o $BR -j ACCEPT"
}

open_firewall() {
    # Host<->host-in-netns traffic traverses INPUT/OUTPUT; netns<->netns
    # traffic is bridged, but with br_netfilter loaded (bridge-nf-call-iptables=1,
    # as Docker does) it traverses FORWARD, whose policy dockerd sets to DROP.
    # Inserted at the top, tagged with a comment, added once (-C).
    have_iptables || return 0
    local c r
    while IFS='|' read -r c r; do
        # shellcheck disable=SC2086
        iptables -w -C "$c" $r -m comment --comment "$FW_TAG" 2>/dev/null ||
            iptables -w -I "$c" 1 $r -m comment --comment "$FW_TAG" ||
            log "WARNING: could not add iptables rule: $c $r"
    done < <(fw_rules)
}

close_firewall() {
    have_iptables || return 0
    local c r
    while IFS='|' read -r c r; do
        # shellcheck disable=SC2086
        while iptables -w -D "$c" $r -m comment --comment "$FW_TAG" 2>/dev/null; do :; done
    done < <(fw_rules)
}

ensure_bridge() {
    if ! ip link show "$BR" >/dev/null 2>&1; then
        ip link add "$BR" address "$BR_MAC" type bridge stp_state 0 forward_delay 0
    fi
    ip addr replace "$HOST_IP/24" dev "$BR"
    ip link set "$BR" up
    open_firewall
}

# idempotent: creates what is missing, (re)sets links up, addresses and the
# default route (a link that went down lost its routes). Processes in the
# namespace are left alone.
setup_host_net() {
    local h=$1 ns=${HOST_NS[$1]} v=${HOST_VETH[$1]}
    netns_exists "$h" || ip netns add "$ns"
    if ! ip link show "$v" >/dev/null 2>&1; then
        ip -n "$ns" link del eth0 2>/dev/null || true
        ip link add "$v" type veth peer name eth0 netns "$ns"
    fi
    ip -n "$ns" link set eth0 address "${HOST_MAC[$h]}"
    ip link set "$v" master "$BR"
    ip link set "$v" up
    ip -n "$ns" link set lo up
    ip -n "$ns" addr replace "${HOST_ADDR[$h]}/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" route replace default via "$HOST_IP" dev eth0
    write_netns_etc "$h"
}

link_is_up() { # host veth up and with carrier (a veth has carrier only while its peer is up)
    local v=${HOST_VETH[$1]} flags carrier
    netns_exists "$1" || return 1
    read -r flags 2>/dev/null <"/sys/class/net/$v/flags" || return 1
    (((flags & 1) == 1)) || return 1
    read -r carrier 2>/dev/null <"/sys/class/net/$v/carrier" || return 1
    [ "$carrier" = 1 ]
}

# ---------------------------------------------------------------- sshd
start_sshd() {
    local h=$1 rc=0
    rm -f "$RUN/$h/sshd.pid"
    echo "=== $(date -Is) build/ssh-hosts.sh starting sshd $h" >>"$LOGDIR/$h.log"
    # unshare --uts: a UTS namespace of its own, so 'hostname' names sshd and
    # every session it starts without touching the machine's hostname.
    # sshd daemonizes itself (and writes its pid file once listening); this
    # returns at once with sshd's early exit status (bad option, ...).
    env -i PATH="$CLEAN_PATH" LANG=C.UTF-8 \
        ip netns exec "${HOST_NS[$h]}" unshare --uts \
        sh -c 'hostname "$1" && exec "$2" -f "$3" -E "$4"' sh \
        "$h" "$SSHD" "$RUN/$h/sshd_config" "$LOGDIR/$h.log" \
        </dev/null >>"$LOGDIR/$h.log" 2>&1 9>&- || rc=$?
    if [ "$rc" != 0 ]; then
        tail -n 20 "$LOGDIR/$h.log" >&2 || true
        die "sshd for $h exited with status $rc"
    fi
}

alive() { # 0 when pid $1 exists and is not a zombie
    local stat
    read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
    case "${stat##*) }" in Z* | X*) return 1 ;; esac
}

# TERM (twice), then KILL, every process of host $1 whose comm is one of $2...
# (every process in the namespace when no comm is given); waits until gone
kill_in_netns() {
    local h=$1 sig p pids i left
    shift
    for sig in TERM TERM KILL KILL KILL; do
        pids=()
        for p in $(netns_pids "$h"); do
            if [ $# = 0 ] || is_proc "$p" "$@"; then pids+=("$p"); fi
        done
        [ "${#pids[@]}" = 0 ] && return 0
        kill "-$sig" "${pids[@]}" 2>/dev/null || true
        for i in $(seq 1 10); do
            left=0
            for p in "${pids[@]}"; do alive "$p" && left=1 && break; done
            [ "$left" = 0 ] && break
            sleep 0.1
        done
    done
    log "WARNING: processes left in ${HOST_NS[$h]}: $(netns_pids "$h" | tr '\n' ' ')"
}

show_log() {
    echo "----- last lines of $LOGDIR/$1.log" >&2
    tail -n 25 "$LOGDIR/$1.log" >&2 2>/dev/null || true
}

# waits until every host in $@ greets on port 22
wait_answering() {
    local start h pending
    start=$(date +%s)
    while :; do
        pending=()
        for h in "$@"; do ssh_answers "${HOST_ADDR[$h]}" || pending+=("$h"); done
        [ "${#pending[@]}" = 0 ] && return 0
        for h in "${pending[@]}"; do
            if ! sshd_pid "$h" >/dev/null && [ $(($(date +%s) - start)) -ge 2 ]; then
                log "sshd on $h is not running"
                show_log "$h"
                return 1
            fi
        done
        if [ $(($(date +%s) - start)) -ge "$READY_TIMEOUT" ]; then
            log "no SSH greeting from ${pending[*]} after ${READY_TIMEOUT}s"
            for h in "${pending[@]}"; do show_log "$h"; done
            return 1
        fi
        sleep 0.1
    done
}

check_connectivity() { # netns <-> netns: bridged, hence FORWARD with br_netfilter
    ssh_answers "${HOST_ADDR[sshhost2]}" "${HOST_NS[sshhost1]}" ||
        log "WARNING: sshhost1 cannot reach sshhost2 (${HOST_ADDR[sshhost2]}:22); check firewall/br_netfilter"
    ssh_answers "${HOST_ADDR[sshhost1]}" "${HOST_NS[sshhost2]}" ||
        log "WARNING: sshhost2 cannot reach sshhost1 (${HOST_ADDR[sshhost1]}:22); check firewall/br_netfilter"
}

up_line() {
    local h s=""
    for h in "${HOSTS[@]}"; do s+=" $h ${HOST_ADDR[$h]}"; done
    echo "ssh-hosts:$s up $1"
}

# ---------------------------------------------------------------- commands
cmd_up() {
    local t0 h p ms
    t0=$(date +%s%N)
    if hosts_ready; then
        up_line "(already up)"
        return 0
    fi
    # one 'up'/'down' at a time (e.g. several pytest workers); re-check after
    # waiting for the lock: another caller may just have brought them up
    take_lock
    if hosts_ready; then
        up_line "(already up)"
        return 0
    fi
    install_sshd
    prepare_files
    ensure_bridge
    for h in "${HOSTS[@]}"; do
        setup_host_net "$h"
        write_conf "$h"
        p=$(sshd_pid "$h" || true)
        if [ -n "$p" ] && [ "$CONF_CHANGED" = 1 ]; then
            # a listener's SIGTERM ends only the listener: sessions stay up
            log "restarting sshd on $h (config changed)"
            kill -TERM "$p" 2>/dev/null || true
            for _ in $(seq 1 50); do
                is_proc "$p" sshd || break
                sleep 0.1
            done
            p=
        fi
        [ -n "$p" ] || start_sshd "$h"
    done
    wait_answering "${HOSTS[@]}" || exit 1
    check_connectivity
    ms=$((($(date +%s%N) - t0) / 1000000))
    up_line "($((ms / 1000)).$((ms % 1000 / 100)) s)"
}

cmd_down() {
    local h
    take_lock
    for h in "${HOSTS[@]}"; do
        # everything: sshd and whatever the tests started there through ssh
        kill_in_netns "$h"
        ! netns_exists "$h" || ip netns del "${HOST_NS[$h]}"
        ip link del "${HOST_VETH[$h]}" 2>/dev/null || true
        rm -rf "${RUN:?}/$h" "/etc/netns/${HOST_NS[$h]}"
    done
    ip link del "$BR" 2>/dev/null || true
    close_firewall
    # kept: host keys ($STATE), logs, $AUTH_KEYS (the test suite's)
    echo "ssh-hosts: down"
}

cmd_status() {
    local h p rc=0 link
    for h in "${HOSTS[@]}"; do
        p=$(sshd_pid "$h" || true)
        link=down
        link_is_up "$h" && link=up
        [ -n "$p" ] && [ "$link" = up ] || rc=1
        echo "$h ${HOST_ADDR[$h]} (netns ${HOST_NS[$h]}): sshd $([ -n "$p" ] && echo "pid $p" || echo down), link $link$(netns_exists "$h" || echo " (no netns)")"
    done
    return "$rc"
}

cmd_link() {
    local h=$1 what=${2:-}
    check_host_arg "$h"
    take_lock
    netns_exists "$h" || die "$h is not set up; run '$0 up' first"
    case "$what" in
    down)
        # both ends: the host vanishes (no ARP answers, no RST), processes live on
        ip link set "${HOST_VETH[$h]}" down
        ip -n "${HOST_NS[$h]}" link set eth0 down
        ;;
    up)
        ensure_bridge
        setup_host_net "$h"
        # ssh works again when this returns (if its sshd runs)
        if sshd_pid "$h" >/dev/null; then wait_answering "$h" || exit 1; fi
        ;;
    *) die "usage: $0 link HOST down|up" ;;
    esac
    echo "ssh-hosts: $h link $what"
}

cmd_sshd() {
    local h=$1 what=${2:-}
    check_host_arg "$h"
    take_lock
    case "$what" in
    stop)
        # the listener and every session process: ControlMaster connections break
        kill_in_netns "$h" "${SSHD_COMMS[@]}"
        rm -f "$RUN/$h/sshd.pid"
        ;;
    start)
        netns_exists "$h" || die "$h is not set up; run '$0 up' first"
        if ! sshd_pid "$h" >/dev/null; then
            prepare_files
            write_conf "$h"
            start_sshd "$h"
        fi
        if link_is_up "$h"; then wait_answering "$h" || exit 1; fi
        ;;
    *) die "usage: $0 sshd HOST stop|start" ;;
    esac
    echo "ssh-hosts: $h sshd $what"
}

case "${1:-}" in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
link) cmd_link "${2:-}" "${3:-}" ;;
sshd) cmd_sshd "${2:-}" "${3:-}" ;;
*)
    echo "usage: $0 up|down|status|link HOST down|up|sshd HOST stop|start  (HOST: ${HOSTS[*]})" >&2
    exit 2
    ;;
esac
