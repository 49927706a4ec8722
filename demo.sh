#!/usr/bin/env bash
# The local demo: builds the three programs, starts collectord and agentd on
# loopback in a temporary directory (no root, no config in /etc), writes a
# small auth log, and searches it with logq. Everything is removed at the end
# unless KEEP=1 is set. LOGQ_BIN=DIR runs the programs built in DIR instead
# of building them (the tests run the demo so).
set -euo pipefail
cd "$(dirname "$0")"

if [ -n "${LOGQ_BIN:-}" ]; then
    bin=$LOGQ_BIN
else
    cargo build --release --bins --quiet
    bin=$PWD/target/release
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/logq-demo.XXXXXX")
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [ "${KEEP:-0}" = 1 ]; then echo "demo files kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# collectord: port 0 picks a free port; it prints "listening on ADDR".
cat > "$work/collectord.toml" <<CONF
listen = "127.0.0.1:0"
data-dir = "$work/data"
CONF
mkfifo "$work/collectord.out"
"$bin/collectord" --config "$work/collectord.toml" > "$work/collectord.out" 2> "$work/collectord.log" &
pids+=($!)
read -r _ _ addr < "$work/collectord.out"
echo "collectord listening on $addr (data in $work/data)"

# A small auth log: a brute force from one address among ordinary logins.
log=$work/auth.log
now=$(date '+%b %e %H:%M:%S')
for i in $(seq 1 40); do
    host=$([ $((i % 3)) = 0 ] && echo db1 || echo web1)
    echo "$now $host sshd[$((1000 + i))]: Accepted publickey for deploy from 198.51.100.$i port $((40000 + i)) ssh2"
    if [ $((i % 4)) = 0 ]; then
        echo "$now web1 sshd[$((2000 + i))]: Failed password for root from 203.0.113.9 port $((50000 + i)) ssh2"
    fi
done > "$log"

cat > "$work/agentd.toml" <<CONF
collector = "$addr"
inputs = ["$log"]
state-dir = "$work/agent-state"
# The demo ships its own sample only, not this machine's journal.
journal = false
CONF
"$bin/agentd" --config "$work/agentd.toml" 2> "$work/agentd.log" &
pids+=($!)

# Wait (at most 10 s) until the last line written is searchable.
for _ in $(seq 1 100); do
    n=$("$bin/logq" --data-dir "$work/data" --count 'failed password' 2>/dev/null || true)
    [ "${n:-0}" -ge 10 ] && break
    sleep 0.1
done

echo
echo "\$ logq 'failed password' --host web1"
"$bin/logq" --data-dir "$work/data" 'failed password' --host web1

# The detectors flagged the burst (the lines marked "!" above) and explained
# it in anomalies.log.
echo
echo "\$ jq -r .explanation DATA/anomalies.log   # why those lines are marked !"
if command -v jq > /dev/null; then
    jq -r 'select(.state == "open") | .explanation' "$work/data/anomalies.log"
else
    grep -o '"explanation":"[^"]*"' "$work/data/anomalies.log" | head -1
fi
