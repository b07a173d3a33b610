#!/usr/bin/env bash
# Geo scale: load time and peak memory of a geo map over a generated
# database of 1,000,000 networks (three in four IPv4, one record per ten
# networks, as GeoIP2 City shares records), with location rules and auto
# ordering, measured on dnslb -check, which compiles the map as a start or a
# reload does; beside the same config without the map.
#   testdata/bench/geoscale.sh DB.mmdb        (make geoscale writes DB once)
set -eu
cd "$(dirname "$0")/../.."
db=$(realpath "$1")
work=$(mktemp -d /tmp/dnslb-geoscale.XXXXXX)
trap 'rm -rf "$work"' EXIT
command -v /usr/bin/time >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null; }
go build -o "$work/dnslb" ./cmd/dnslb

base='[server]
listen = ["127.0.0.1:0"]
http = ""
[[zone]]
origin = "lb.example."
records = ["@ 60 IN SOA ns1 hm 1 3600 600 86400 30", "@ 60 IN NS ns1", "ns1 60 IN A 192.0.2.1"]
'
pool='[[pool]]
name = "www.lb.example."
policy = "POLICY"
MAP
members = [
  { address = "192.0.2.10" DC_AMS },
  { address = "192.0.2.20" DC_IAD },
  { address = "192.0.2.30" DC_SJC },
  { address = "192.0.2.40" DC_NRT },
]
'
geo="[map.world]
geoip_db = \"$db\"
default = [\"iad\", \"ams\"]
auto = true
[map.world.locations]
\"EU\" = [\"ams\", \"iad\"]
\"EU/GB\" = [\"ams\", \"iad\"]
\"NA/US/CA\" = [\"sjc\", \"iad\"]
\"AS\" = [\"nrt\", \"sjc\"]
[map.world.coordinates]
ams = [52.37, 4.90]
iad = [38.95, -77.45]
sjc = [37.36, -121.93]
nrt = [35.77, 140.39]
"
{ echo "$base"; echo "$pool" | sed 's/POLICY/weighted/; s/MAP//; s/ DC_[A-Z]*//'; } > "$work/plain.toml"
{ echo "$base"; echo "$geo"; echo "$pool" | sed 's/POLICY/geo/; s/MAP/map = "world"/; s/ DC_AMS/, datacenter = "ams"/; s/ DC_IAD/, datacenter = "iad"/; s/ DC_SJC/, datacenter = "sjc"/; s/ DC_NRT/, datacenter = "nrt"/'; } > "$work/geo.toml"

run() {
  /usr/bin/time -f '%e %M' "$work/dnslb" -check -config "$1" 2>&1 >/dev/null | tail -1
}
echo "database: $(du -h "$db" | cut -f1) ($db)"
printf '%-28s %10s %14s\n' "config" "seconds" "peak RSS (MB)"
for i in 1 2 3; do
  for c in plain geo; do
    read -r s kb < <(run "$work/$c.toml")
    printf '%-28s %10s %14d\n' "$c (run $i)" "$s" $((kb / 1024))
  done
done
