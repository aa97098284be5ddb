#!/bin/sh
# Start or stop a Docker engine for CI on a machine where none runs (no systemd, no
# network bridge). `start` installs Debian's docker.io, docker-compose and debootstrap
# when missing, starts dockerd in the background and waits until it answers. When an
# engine already answers it uses that one and records no PID. `stop` stops only the
# dockerd that `start` started, by the PID it recorded.
#   docker/engine.sh start|stop
set -eu
state="${SIGNFED_DOCKERD_STATE:-/tmp/signfed-dockerd}"

storage_driver() {
    # overlay2 when this kernel lets us mount an overlay (containers then start in well
    # under a second); otherwise vfs, which works everywhere but copies every layer.
    probe=$(mktemp -d)
    mkdir -p "$probe/lower" "$probe/upper" "$probe/work" "$probe/merged"
    if mount -t overlay overlay \
        -o "lowerdir=$probe/lower,upperdir=$probe/upper,workdir=$probe/work" \
        "$probe/merged" 2> /dev/null; then
        umount "$probe/merged"
        echo overlay2
    else
        echo vfs
    fi
    rm -rf "$probe"
}

start() {
    if docker info > /dev/null 2>&1; then
        echo "docker engine already running: using it (and leaving it running)"
        rm -f "$state/dockerd.pid"  # not ours: `stop` must leave it alone
        return 0
    fi
    if ! command -v dockerd > /dev/null || ! command -v docker-compose > /dev/null \
        || ! command -v debootstrap > /dev/null; then
        apt-get install -y -q docker.io docker-compose debootstrap > /dev/null \
            || { apt-get update -q > /dev/null && \
                 apt-get install -y -q docker.io docker-compose debootstrap > /dev/null; }
    fi
    mkdir -p "$state"
    driver=$(storage_driver)
    dockerd --storage-driver="$driver" --bridge=none --iptables=false \
        > "$state/dockerd.log" 2>&1 &
    echo $! > "$state/dockerd.pid"
    i=0
    until docker info > /dev/null 2>&1; do
        i=$((i + 1))
        if [ "$i" -gt 60 ] || ! kill -0 "$(cat "$state/dockerd.pid")" 2> /dev/null; then
            echo "dockerd did not come up; its log:" >&2
            tail -20 "$state/dockerd.log" >&2
            exit 1
        fi
        sleep 1
    done
    echo "dockerd started (pid $(cat "$state/dockerd.pid"), storage driver $driver)"
}

stop() {
    [ -f "$state/dockerd.pid" ] || return 0
    pid=$(cat "$state/dockerd.pid")
    rm -f "$state/dockerd.pid"
    kill "$pid" 2> /dev/null || return 0
    i=0
    while kill -0 "$pid" 2> /dev/null && [ "$i" -lt 30 ]; do
        sleep 1
        i=$((i + 1))
    done
    kill -9 "$pid" 2> /dev/null || true
    echo "dockerd (pid $pid) stopped"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
