#!/usr/bin/env bash
# Scale: load time and peak memory of a zone of 1,000,000 records, and of a
# config of 10,000 pools (4 members each), in dnslb and in Knot DNS serving
# the same data (the pools as 40,000 A records). Loopback only.
#   testdata/bench/scale.sh        (make scale)
set -eu
cd "$(dirname "$0")/../.."
work=$(mktemp -d /tmp/dnslb-scale.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
command -v knotd >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq knot >/dev/null; }
command -v /usr/bin/time >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null; }
go build -o "$work/dnslb" ./cmd/dnslb

python3 - "$work" <<'PY'
import sys
w = sys.argv[1]
with open(w + "/big.zone", "w") as f:
    f.write("$ORIGIN big.example.\n$TTL 300\n@ IN SOA ns1 hostmaster 1 3600 600 604800 60\n@ IN NS ns1\nns1 IN A 192.0.2.1\n")
    n = i = 0
    while n < 1000000:
        f.write("h%d IN A 10.%d.%d.%d\n" % (i, i >> 16 & 255, i >> 8 & 255, i & 255)); n += 1
        if i % 4 == 0:
            f.write("h%d IN AAAA 2001:db8::%x:%x\n" % (i, i >> 16, i & 0xffff)); n += 1
        if i % 10 == 0:
            f.write("h%d IN TXT \"record %d\"\n" % (i, i)); n += 1
        i += 1
head = "$ORIGIN pools.example.\n$TTL 30\n@ SOA ns1 hm 1 2 3 4 5\n@ NS ns1\nns1 A 192.0.2.1\n"
with open(w + "/pools.zone", "w") as z, open(w + "/pools-knot.zone", "w") as k, open(w + "/pools.toml", "w") as c:
    z.write(head); k.write(head)
    c.write('[server]\nlisten = ["127.0.0.1:0"]\nhttp = ""\n[[zone]]\norigin = "pools.example."\nfile = "pools.zone"\n'
            '[check.web]\ntype = "tcp"\nport = 9\ninterval = "10s"\ntimeout = "1s"\n')
    for i in range(10000):
        a, b = 100 + (i // 250) % 100, i % 250
        c.write('[[pool]]\nname = "p%d.pools.example."\npolicy = "weighted"\ncheck = "web"\nmembers = [%s]\n'
                % (i, ", ".join('{ address = "127.%d.%d.%d" }' % (a, b, m) for m in range(1, 5))))
        for m in range(1, 5):
            k.write("p%d A 127.%d.%d.%d\n" % (i, a, b, m))
PY
printf '[server]\nlisten = ["127.0.0.1:0"]\nhttp = ""\n[[zone]]\norigin = "big.example."\nfile = "big.zone"\n' > "$work/big.toml"

# dnslb: -check does all a start or reload does but binding and serving.
dnslb() {
  /usr/bin/time -f '%e %M' "$work/dnslb" -check -config "$1" 2>&1 >/dev/null | tail -1
}
# knot: from start until the zone answers; peak RSS of the process.
knot() {
  local zone=$1 file=$2 name=$3 port=53$((RANDOM % 90 + 10))
  mkdir -p "$work/knot-$zone"
  cat > "$work/knot-$zone.conf" <<CONF
server:
    listen: 127.0.0.1@$port
    rundir: $work/knot-$zone
    user: root
    background-workers: 1
database:
    storage: $work/knot-$zone
template:
  - id: default
    storage: $work
    journal-content: none
    zonefile-sync: -1
zone:
  - domain: $zone
    file: $file
CONF
  local start end pid
  start=$(date +%s.%N)
  knotd -c "$work/knot-$zone.conf" >/dev/null 2>&1 & pid=$!
  until dig +short +time=1 +tries=1 @127.0.0.1 -p "$port" "$name" A 2>/dev/null | grep -q '^[0-9]'; do sleep 0.01; done
  end=$(date +%s.%N)
  printf '%.2f %s\n' "$(echo "$end - $start" | bc)" "$(awk '/VmHWM/{print $2}' /proc/$pid/status)"
  kill $pid; wait $pid 2>/dev/null || true
}
printf '| data | server | seconds | peak RSS (MB) |\n|---|---|---|---|\n'
read -r s m <<< "$(dnslb "$work/big.toml")";  printf '| 1M-record zone | dnslb | %s | %d |\n' "$s" $((m / 1024))
read -r s m <<< "$(knot big.example big.zone h99999.big.example)"; printf '| 1M-record zone | knot | %s | %d |\n' "$s" $((m / 1024))
read -r s m <<< "$(dnslb "$work/pools.toml")"; printf '| 10k pools (40k members) | dnslb | %s | %d |\n' "$s" $((m / 1024))
read -r s m <<< "$(knot pools.example pools-knot.zone p9999.pools.example)"; printf '| 10k pools as 40k A records | knot | %s | %d |\n' "$s" $((m / 1024))
