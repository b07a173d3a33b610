package health_test

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/dnslb/dnslb/health"
)

// A target comes up after Rise successes and goes down after Fall failures;
// shorter runs leave it alone.
func ExampleMachine() {
	m := health.NewMachine(2, 3, true)
	for _, ok := range []bool{false, false, true, false, false, false, true, true} {
		changed := m.Observe(ok)
		fmt.Print(map[bool]string{true: "o", false: "x"}[ok])
		if changed {
			fmt.Printf("→%s ", map[bool]string{true: "up", false: "down"}[m.Up()])
		}
	}
	fmt.Println()
	// Output: xxoxxx→down oo→up
}

func ExampleProber() {
	web := &health.Check{
		Name: "web", Type: health.TypeNone, // a real check would be tcp, http(s) or dns
		Interval: 2 * time.Second, Timeout: time.Second, Rise: 2, Fall: 3, InitialUp: true,
	}
	if err := web.Validate(); err != nil {
		fmt.Println(err)
		return
	}
	p := health.NewProber(health.Options{})
	targets := p.Sync([]health.Spec{
		{Check: web, Addr: netip.MustParseAddr("192.0.2.10")},
		{Check: web, Addr: netip.MustParseAddr("2001:db8::10")},
	})

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- p.Run(ctx) }()
	for !p.FirstRoundDone() {
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done

	for _, t := range targets {
		fmt.Println(t.Key(), t.Up(), t.Status().Probed)
	}
	// Output:
	// web@192.0.2.10 true true
	// web@2001:db8::10 true true
}
