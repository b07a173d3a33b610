package dnslb

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/dnslb/testutil"
)

var screenshot = flag.String("screenshot", "", "write the status page screenshot of TestStatusPageInBrowser to this file (make screenshot)")

// browser starts headless Chromium (Debian's package, which `make tools`
// installs) and returns a chromedp context for it.
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium is not installed (make tools installs it): %v", err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1200, 700),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	return ctx
}

// openStatus opens url in a browser, waits until css is shown and returns
// the page's context (60 s) and an evaluator of JavaScript on the page.
func openStatus(t *testing.T, url, css string) (context.Context, func(js string) string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(browser(t), 60*time.Second)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS(css))); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	return ctx, func(js string) string {
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		return v
	}
}

// TestStatusPageInBrowser opens /status in a real browser: every pool and
// member is shown with its health, and when a backend dies the page shows
// it down after its own refresh, without being reloaded.
func TestStatusPageInBrowser(t *testing.T) {
	hosts := []string{"127.0.5.1", "127.0.5.2", "127.0.5.3"}
	bs, port := testutil.Backends(t, "tcp", hosts...)
	check := fmt.Sprintf("type = \"tcp\"\nport = %d\ninterval = \"300ms\"\ntimeout = \"200ms\"\nrise = 1\nfall = 1\n", port)
	cfg := poolConfig("127.0.0.1:0", check, "round_robin", hosts, "") + `
[[pool]]
name = "static.lb.test."
policy = "all"
members = [{ address = "192.0.2.77" }, { address = "2001:db8::77" }]
[map.two]
default = ["ams", "iad"]
[[pool]]
name = "geo.lb.test."
policy = "geo"
map = "two"
min_healthy = 2
members = [{ address = "192.0.2.78", datacenter = "ams" }, { address = "192.0.2.79", datacenter = "ams" }, { address = "192.0.2.80", datacenter = "iad" }]
`
	dir := testutil.WriteFiles(t, map[string]string{"dnslb.toml": cfg})
	ts := start(t, dir+"/dnslb.toml", Options{})
	testutil.WaitFor(t, 20*time.Second, "first health round", ts.prober.FirstRoundDone)
	for range 30 {
		ts.ask(t, "udp", "www.lb.test.", dns.TypeA) // something for the share column
	}
	ctx, eval := openStatus(t, ts.http+"/status", `section[data-pool="static.lb.test."]`)
	healthOf := func(addr string) string {
		return eval(fmt.Sprintf(`(document.querySelector('tr[data-member=%q]') || {dataset: {}}).dataset.health || ""`, addr))
	}
	for _, h := range hosts {
		if got := healthOf(h); got != "up" {
			t.Errorf("%s shown %q, want up", h, got)
		}
	}
	for _, a := range []string{"192.0.2.77", "2001:db8::77"} {
		if got := healthOf(a); got != "unchecked" {
			t.Errorf("%s shown %q, want unchecked", a, got)
		}
	}
	// Geo pools: each datacenter's eligible members, in red under
	// min_healthy; each member's datacenter.
	if got := eval(`document.querySelector('[data-datacenter="ams/A"]').textContent + "," + document.querySelector('[data-datacenter="iad/A"]').className`); got != "ams A 2/2,dc none" {
		t.Errorf("datacenters shown %q, want ams 2/2 and iad under min_healthy", got)
	}
	if got := eval(`document.querySelector('tr[data-member="192.0.2.80"] td:nth-child(2)').textContent`); got != "iad" {
		t.Errorf("datacenter of 192.0.2.80 shown %q", got)
	}
	// Colours: green for up.
	bg := eval(`getComputedStyle(document.querySelector('tr[data-member="127.0.5.1"] .badge')).backgroundColor`)
	if bg != "rgb(26, 127, 55)" {
		t.Errorf("up badge colour %s, want green", bg)
	}
	// A backend dies: the page, left alone, shows it.
	bs[1].Stop()
	deadline := time.Now().Add(15 * time.Second)
	for healthOf("127.0.5.2") != "down" {
		if time.Now().After(deadline) {
			t.Fatal("the page did not show 127.0.5.2 down after its refresh")
		}
		time.Sleep(100 * time.Millisecond)
	}
	bg = eval(`getComputedStyle(document.querySelector('tr[data-member="127.0.5.2"] .badge')).backgroundColor`)
	if bg != "rgb(207, 34, 46)" {
		t.Errorf("down badge colour %s, want red", bg)
	}
	errCell := func() (state, text string) {
		return eval(`document.querySelector('tr[data-member="127.0.5.2"] .err').dataset.error || ""`),
			eval(`document.querySelector('tr[data-member="127.0.5.2"] .err').textContent`)
	}
	if state, text := errCell(); state != "current" || !strings.Contains(text, " ago: health: ") {
		t.Errorf("dead member's last error: %q %q, want current, with how long ago", state, text)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(shot)) // quality 100: PNG
	if err != nil || img.Bounds().Dx() < 600 {
		t.Fatalf("screenshot: %v", err)
	}
	if *screenshot != "" {
		if err := os.WriteFile(*screenshot, shot, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// It comes back: the error is shown as past, not as current.
	bs[1].MustRestart(t)
	deadline = time.Now().Add(15 * time.Second)
	for healthOf("127.0.5.2") != "up" {
		if time.Now().After(deadline) {
			t.Fatal("the page did not show 127.0.5.2 up again after its refresh")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if state, text := errCell(); state != "past" || !strings.HasPrefix(text, "recovered; ") || !strings.Contains(text, " ago: health: ") {
		t.Errorf("recovered member's last error: %q %q, want past", state, text)
	}
}
