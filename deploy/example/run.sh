#!/usr/bin/env bash
# A rendered example of deploy/grafana/gemsdash.json without Grafana: a private redis-server, one
# worker (2 threads), `gemsdash serve`, and Prometheus (Debian package `prometheus`) scraping it
# every 2 s with deploy/prometheus/alerts.yml loaded; 100 s of mixed load, then each panel's query
# is evaluated and printed (docs/monitoring.md shows a run). Everything it starts, it stops by PID.
# Usage: bash deploy/example/run.sh [seconds of load]   (from the repository, with .venv installed)
set -u
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
V="$ROOT/.venv/bin"
WORK="$(mktemp -d)"
free() { "$V/python" -c "import socket;s=socket.socket();s.bind(('127.0.0.1',0));print(s.getsockname()[1])"; }
RP=$(free); AP=$(free); PP=$(free)
PIDS=()
stop() { for ((i=${#PIDS[@]}-1; i>=0; i--)); do kill "${PIDS[i]}" 2>/dev/null; wait "${PIDS[i]}" 2>/dev/null; done; }
trap stop EXIT
redis-server --port "$RP" --save '' --appendonly no --dir "$WORK" > "$WORK/redis.log" 2>&1 & PIDS+=($!)
sleep 1
export REDIS_ENABLED=true REDIS_URL="redis://127.0.0.1:$RP/0" GEMSDASH_NAMESPACE=example PYTHONWARNINGS=ignore
"$V/gemsdash" worker --processes 1 --threads 2 > "$WORK/worker.log" 2>&1 & PIDS+=($!)
"$V/gemsdash" serve --port "$AP" > "$WORK/serve.log" 2>&1 & PIDS+=($!)
cat > "$WORK/prometheus.yml" <<YML
global: {scrape_interval: 2s, evaluation_interval: 2s}
rule_files: ["$ROOT/deploy/prometheus/alerts.yml"]
scrape_configs:
  - job_name: gemsdash
    static_configs: [{targets: ["127.0.0.1:$AP"]}]
YML
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/data" \
  --web.listen-address="127.0.0.1:$PP" > "$WORK/prometheus.log" 2>&1 & PIDS+=($!)
sleep 8
"$V/python" "$ROOT/deploy/example/produce.py" "${1:-100}"
sleep 15
"$V/python" "$ROOT/deploy/example/query.py" "http://127.0.0.1:$PP" "$ROOT/deploy/grafana/gemsdash.json"
echo "alerts: $(curl -s "http://127.0.0.1:$PP/api/v1/alerts")"
echo "logs in $WORK"
