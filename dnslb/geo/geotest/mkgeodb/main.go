// Command mkgeodb writes a generated GeoIP2 City-shaped database of n
// networks, for `make geoscale` (load time and memory of a large map).
package main

import (
	"flag"
	"log"

	"github.com/dnslb/dnslb/dnslb/geo/geotest"
)

func main() {
	out := flag.String("out", "geo.mmdb", "file to write")
	n := flag.Int("n", 1000000, "networks")
	seed := flag.Uint64("seed", 1, "random seed")
	flag.Parse()
	if err := geotest.WriteRandom(*out, *n, *seed); err != nil {
		log.Fatal(err)
	}
}
