//go:build race

package health

const raceEnabled = true // the race detector allocates on its own
