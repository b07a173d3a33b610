#!/usr/bin/env bash
# Side-by-side DNS serving benchmark on one machine: dnslb against NSD, Knot DNS,
# gdnsd and CoreDNS, all serving bench.zone, each server pinned to CPU 0 and the
# load generator (dnsperf) pinned to CPU 1, in one run so the ratios hold.
#
#   make bench    (runs: DNSLB_CMD='cmd/dnslb/dnslb -config testdata/bench/dnslb.toml' testdata/bench/compare.sh)
#
# DNSLB_CMD must start a server answering on 127.0.0.1:5310 for lb.example.
# (bench.zone, with www.lb.example. A served from a health-checked weighted
# pool of 127.0.0.11-14, checked with TCP connects to port 8080).
# Leave DNSLB_CMD empty to measure the peers alone.
# Figures: qps = saturated throughput; us/q = server CPU microseconds per
# answered query at a fixed offered load (RATE, default 50000 q/s).
# Query sets: www (one pooled name), mix (six kinds of answer), wildrand and
# nxrand (200,000 random names under the wildcard and nowhere). A set named
# SET+do sends SET with DO=1 (dnsperf -D), SET+edns with EDNS and DO=0 (-e);
# +do sets run only on servers that sign the zone: dnslb (online, with the
# key in testdata/bench/keys) and Knot (signed when loaded). After the table,
# each such server's CPU per query signed over unsigned (SET+do / SET, the
# means when a set is named more than once).
# QDIR: a folder of more query files, q_NAME in dnsperf's format; name them in
# QUERIES (e.g. QUERIES="www mix random" QDIR=/tmp/queries).
# PEERS: the servers to compare with (default "nsd knot gdnsd coredns").
# Only loopback addresses are used. Needs root for apt-get and taskset.
set -u
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/dnsbench.XXXXXX)
SECS=${SECS:-8}; RATE=${RATE:-50000}; QUERIES=${QUERIES:-www www+do mix wildrand nxrand}
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; }
trap cleanup EXIT

need() { command -v "$1" >/dev/null 2>&1; }
if ! need dnsperf || ! need nsd || ! need knotd || ! need gdnsd; then
  apt-get update -qq >/dev/null 2>&1
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dnsperf nsd knot gdnsd >/dev/null 2>&1 ||
    { echo "compare.sh: could not install dnsperf nsd knot gdnsd" >&2; exit 2; }
fi
PEERS=${PEERS:-nsd knot gdnsd coredns}
coredns=$(command -v coredns || echo "$HOME/go/bin/coredns")
if [ ! -x "$coredns" ] && [[ " $PEERS " == *" coredns "* ]]; then
  GOFLAGS=-mod=mod go install github.com/coredns/coredns@v1.15.0 >/dev/null 2>&1 && coredns="$(go env GOPATH)/bin/coredns"
fi

cp "$here/bench.zone" "$work/lb.example.zone"
printf 'www.lb.example A\n' > "$work/q_www"
[ -n "${QDIR:-}" ] && cp "$QDIR"/q_* "$work/"
printf 'www.lb.example A\napi.lb.example A\nnope.lb.example A\nwww.lb.example AAAA\nx.wild.lb.example A\nfoo.sub.lb.example A\n' > "$work/q_mix"
# Names that never repeat, as in a random-subdomain flood: 200,000 distinct
# random labels (fixed seed) under the wildcard, and where nothing exists.
randnames() { awk -v suffix="$1" 'BEGIN { srand(18); for (i = 0; i < 200000; i++) { n = 8 + int(rand() * 8); l = ""; for (j = 0; j < n; j++) l = l substr("abcdefghijklmnopqrstuvwxyz0123456789", 1 + int(rand() * 36), 1); print l i suffix " A" } }'; }
randnames .wild.lb.example > "$work/q_wildrand"
randnames .lb.example > "$work/q_nxrand"

# Backends the health checks connect to.
for i in 11 12 13 14; do
  setsid python3 -m http.server 8080 --bind 127.0.0.$i >/dev/null 2>&1 & pids+=($!)
done

cat > "$work/nsd.conf" <<CONF
server:
  ip-address: 127.0.0.1@5301
  server-count: 1
  username: ""
  zonesdir: "$work"
  database: ""
  pidfile: "$work/nsd.pid"
  xfrdfile: "$work/xfrd.state"
  zonelistfile: "$work/zone.list"
  logfile: "$work/nsd.log"
  rrl-ratelimit: 0
  rrl-whitelist-ratelimit: 0
remote-control:
  control-enable: no
zone:
  name: lb.example
  zonefile: lb.example.zone
CONF
mkdir -p "$work/knot"
cat > "$work/knot.conf" <<CONF
server:
    listen: 127.0.0.1@5302
    rundir: $work/knot
    user: root
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
database:
    storage: $work/knot
policy:
  - id: bench
    algorithm: ecdsap256sha256
    single-type-signing: on
template:
  - id: default
    storage: $work
zone:
  - domain: lb.example
    file: lb.example.zone
    zonefile-sync: -1
    dnssec-signing: on
    dnssec-policy: bench
CONF
mkdir -p "$work/gdnsd/zones" "$work/gdnsd/run" "$work/gdnsd/state"
sed 's/^www .*//' "$work/lb.example.zone" > "$work/gdnsd/zones/lb.example"
echo 'www     30 DYNA weighted!wwwpool' >> "$work/gdnsd/zones/lb.example"
cat > "$work/gdnsd/config" <<CONF
options => {
  listen => [ 127.0.0.1:5303 ]
  udp_threads => 1
  tcp_threads => 1
  run_dir => $work/gdnsd/run
  state_dir => $work/gdnsd/state
}
service_types => {
  web => { plugin => tcp_connect, port => 8080, interval => 2, timeout => 1 }
}
plugins => {
  weighted => {
    wwwpool => {
      service_types => web
      multi => true
      s1 => [ 127.0.0.11, 10 ]
      s2 => [ 127.0.0.12, 10 ]
      s3 => [ 127.0.0.13, 10 ]
      s4 => [ 127.0.0.14, 10 ]
    }
  }
}
CONF
cat > "$work/Corefile" <<CONF
lb.example:5304 {
    bind 127.0.0.1
    file $work/lb.example.zone
    loadbalance
}
CONF

declare -A cmd port signs cpu
signs[knot]=1
read -r -a names <<< "$PEERS"
cmd[nsd]="nsd -c $work/nsd.conf -d"; port[nsd]=5301
cmd[knot]="knotd -c $work/knot.conf"; port[knot]=5302
cmd[gdnsd]="gdnsd -c $work/gdnsd -f start"; port[gdnsd]=5303
cmd[coredns]="$coredns -conf $work/Corefile"; port[coredns]=5304
if [ ! -x "$coredns" ]; then
  peers=(); for n in "${names[@]}"; do [ "$n" = coredns ] || peers+=("$n"); done; names=("${peers[@]}")
fi
if [ -n "${DNSLB_CMD:-}" ]; then names=(dnslb "${names[@]}"); cmd[dnslb]="$DNSLB_CMD"; port[dnslb]=5310; signs[dnslb]=1; fi

# CPU ticks of a process and all its descendants.
ticks() {
  local t=0 p s f
  for p in $(pstree -pT "$1" 2>/dev/null | grep -o '([0-9]*)' | tr -d '()') ; do
    s=$(cat /proc/$p/stat 2>/dev/null) || continue; s=${s##*) }; read -r -a f <<< "$s"
    t=$((t + f[11] + f[12]))
  done
  echo $t
}
hz=$(getconf CLK_TCK)
printf '| server | query set | qps (saturated) | lost | server CPU us/q at %s q/s |\n|---|---|---|---|---|\n' "$RATE"
for n in "${names[@]}"; do
  setsid taskset -c 0 bash -c "exec ${cmd[$n]}" >"$work/$n.out" 2>&1 & pid=$!; pids+=($pid)
  ok=
  for _ in $(seq 50); do dig +time=1 +tries=1 +short @127.0.0.1 -p "${port[$n]}" www.lb.example A 2>/dev/null | grep -q 127.0.0 && { ok=1; break; }; sleep 0.2; done
  [ -n "$ok" ] || { echo "| $n | - | did not answer on 127.0.0.1:${port[$n]} (see $work/$n.out) | | |"; continue; }
  sleep 3  # let health checks settle
  for q in $QUERIES; do
    opt=
    case $q in
      *+do) [ -n "${signs[$n]:-}" ] || continue; opt=-D ;;
      *+edns) opt=-e ;;
    esac
    if [ "$opt" = -D ]; then
      read -r qn qt < "$work/q_${q%+*}"
      dig +dnssec +noall +answer +time=1 +tries=2 @127.0.0.1 -p "${port[$n]}" "$qn" "$qt" 2>/dev/null | grep -q RRSIG ||
        { echo "| $n | $q | answers carry no RRSIG (see $work/$n.out) | | |"; continue; }
    fi
    sat=$(taskset -c 1 dnsperf $opt -s 127.0.0.1 -p "${port[$n]}" -d "$work/q_${q%+*}" -l "$SECS" -c 8 -q 200 2>&1)
    qps=$(echo "$sat" | awk '/Queries per second/{printf "%.0f", $4}')
    lost=$(echo "$sat" | awk '/Queries lost/{print $3 $4}')
    c0=$(ticks $pid)
    fix=$(taskset -c 1 dnsperf $opt -s 127.0.0.1 -p "${port[$n]}" -d "$work/q_${q%+*}" -l "$SECS" -c 8 -q 500 -Q "$RATE" 2>&1)
    c1=$(ticks $pid)
    done_q=$(echo "$fix" | awk '/Queries completed/{print $3}')
    usq=$(awk -v a="$c0" -v b="$c1" -v hz="$hz" -v n="${done_q:-0}" 'BEGIN{ if (n>0) printf "%.2f", (b-a)*1e6/hz/n; else print "-" }')
    printf '| %s | %s | %s | %s | %s |\n' "$n" "$q" "${qps:--}" "${lost:--}" "$usq"
    [ "$usq" = - ] || cpu[$n/$q]="${cpu[$n/$q]:-} $usq"
  done
  kill $pid 2>/dev/null; wait $pid 2>/dev/null
  sleep 1
done
# Signed over unsigned, each the mean of its runs (name a set several times,
# e.g. QUERIES="www www+do www+do www", to measure it several times).
for n in "${names[@]}"; do
  for q in $(printf '%s\n' $QUERIES | awk '/\+do$/ && !seen[$0]++'); do
    awk -v n="$n" -v q="$q" -v s="${cpu[$n/$q]:-}" -v u="${cpu[$n/${q%+do}]:-}" '
      function mean(l,   a, i, k, t) { k = split(l, a, " "); for (i = 1; i <= k; i++) t += a[i]; return k ? t / k : 0 }
      BEGIN { ms = mean(s); mu = mean(u); if (ms > 0 && mu > 0) printf "%s: CPU per query signed/unsigned (%s / %s): %.2f\n", n, q, substr(q, 1, length(q) - 3), ms / mu }'
  done
done
rm -rf "$work"
