package health

import "testing"

func TestMachine(t *testing.T) {
	tests := []struct {
		name       string
		rise, fall int
		initialUp  bool
		results    string // o = success, x = failure
		wantUp     bool
		wantFlips  int
	}{
		{"initial up stays up on success", 2, 3, true, "ooo", true, 0},
		{"initial down stays down without rise", 2, 3, false, "o", false, 0},
		{"initial down comes up at rise", 2, 3, false, "oo", true, 1},
		{"fall threshold takes it down", 2, 3, true, "xxx", false, 1},
		{"one short of fall stays up", 2, 3, true, "xx", true, 0},
		{"flapping below fall never goes down", 2, 3, true, "xxoxxoxxoxxo", true, 0},
		{"flapping below rise never comes up", 3, 3, false, "ooxooxoox", false, 0},
		{"down then up again", 2, 2, true, "xxoo", true, 2},
		{"rise 1 fall 1 follows every result", 1, 1, true, "xoxo", true, 4},
		{"a success resets the failure count", 1, 3, true, "xxoxx", true, 0},
		{"thresholds below 1 count as 1", 0, -5, true, "xo", true, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMachine(tt.rise, tt.fall, tt.initialUp)
			if m.Up() != tt.initialUp {
				t.Fatalf("initial Up = %v", m.Up())
			}
			flips := 0
			for _, r := range tt.results {
				if m.Observe(r == 'o') {
					flips++
				}
			}
			if m.Up() != tt.wantUp || flips != tt.wantFlips {
				t.Errorf("after %q: Up = %v with %d changes, want %v with %d", tt.results, m.Up(), flips, tt.wantUp, tt.wantFlips)
			}
		})
	}
}

func TestMachineCounts(t *testing.T) {
	m := NewMachine(2, 3, true)
	for i, want := range []struct{ ok, fail, toFlip int }{{0, 1, 2}, {0, 2, 1}} {
		m.Observe(false)
		if m.ConsecutiveOK() != want.ok || m.ConsecutiveFail() != want.fail || m.ToFlip() != want.toFlip {
			t.Errorf("failure %d: ok %d fail %d toFlip %d, want %+v", i+1, m.ConsecutiveOK(), m.ConsecutiveFail(), m.ToFlip(), want)
		}
	}
	m.Observe(true)
	if m.ConsecutiveOK() != 1 || m.ConsecutiveFail() != 0 || m.ToFlip() != 3 {
		t.Errorf("after a success: ok %d fail %d toFlip %d", m.ConsecutiveOK(), m.ConsecutiveFail(), m.ToFlip())
	}
}

func TestMachineSetThresholds(t *testing.T) {
	m := NewMachine(2, 5, true)
	m.Observe(false)
	m.Observe(false)
	m.SetThresholds(2, 2) // the count already meets the new fall: the next failure decides
	if !m.Up() {
		t.Fatal("SetThresholds changed the state by itself")
	}
	if !m.Observe(false) || m.Up() {
		t.Fatal("the next failure did not take the target down")
	}
	if m.Rise() != 2 || m.Fall() != 2 {
		t.Errorf("Rise, Fall = %d, %d", m.Rise(), m.Fall())
	}
}
