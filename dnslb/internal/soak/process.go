package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// buildDnslb builds cmd/dnslb into dir.
func buildDnslb(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "dnslb")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/dnslb/dnslb/cmd/dnslb")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/dnslb: %w", err)
	}
	return bin, nil
}

// dnslbProc is dnslb running as a subprocess.
type dnslbProc struct {
	cmd     *exec.Cmd
	logFile *os.File
	exited  chan struct{}
	err     error // of Wait, once exited is closed
}

// startDnslb runs bin -config cfg, its log going to logPath. It dies with
// the soak tool if that is killed (see sysproc_*.go).
func startDnslb(bin, cfg, logPath string) (*dnslbProc, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-config", cfg)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, err
	}
	p := &dnslbProc{cmd: cmd, logFile: f, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.exited)
	}()
	return p, nil
}

func (p *dnslbProc) pid() int { return p.cmd.Process.Pid }

// waitReady polls /readyz (config loaded, listeners up, first health round
// done) until it answers 200.
func (p *dnslbProc) waitReady(ctx context.Context, hc *http.Client, httpAddr netip.AddrPort, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		select {
		case <-p.exited:
			return fmt.Errorf("dnslb exited before it was ready: %v", p.err)
		default:
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+httpAddr.String()+"/readyz", nil)
		if resp, err := hc.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("dnslb not ready within %s", within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits up to within for dnslb to exit, then kills it.
// It returns how long dnslb took and its exit status.
func (p *dnslbProc) stop(within time.Duration) (time.Duration, error) {
	start := time.Now()
	select {
	case <-p.exited:
		return 0, fmt.Errorf("dnslb had already exited: %v", p.err)
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return time.Since(start), p.err
	case <-time.After(within):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return time.Since(start), fmt.Errorf("dnslb still running %s after SIGTERM: killed", within)
	}
}

// vmRSS reads a process's resident set size from /proc, in bytes.
func vmRSS(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			f := strings.Fields(v) // "12345 kB"
			if len(f) == 2 && f[1] == "kB" {
				kb, err := strconv.ParseFloat(f[0], 64)
				return kb * 1024, err
			}
		}
	}
	return 0, errors.New("no VmRSS in /proc/PID/status")
}

// udpCounters reads the kernel's UDP counters (this network namespace, so
// every process's, not only the soak's) from /proc/net/snmp.
func udpCounters() (map[string]int64, error) {
	b, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return nil, err
	}
	var names []string
	for _, l := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(l, "Udp: ")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if names == nil {
			names = f
			continue
		}
		m := map[string]int64{}
		for i, v := range f {
			if i < len(names) {
				m[names[i]], _ = strconv.ParseInt(v, 10, 64)
			}
		}
		return m, nil
	}
	return nil, errors.New("no Udp: lines in /proc/net/snmp")
}

// udpDrops sums the kernel's per-socket drop counters (/proc/net/udp) of the
// UDP sockets pid holds: datagrams that reached the socket but found its
// receive buffer full.
func udpDrops(pid int) (int64, error) {
	inodes, err := socketInodes(pid)
	if err != nil {
		return 0, err
	}
	b, err := os.ReadFile("/proc/net/udp")
	if err != nil {
		return 0, err
	}
	var drops int64
	for _, l := range strings.Split(string(b), "\n")[1:] {
		// sl local rem st tx:rx tr:tm retrnsmt uid timeout inode ref pointer drops
		f := strings.Fields(l)
		if len(f) < 13 || !inodes[f[9]] {
			continue
		}
		n, _ := strconv.ParseInt(f[12], 10, 64)
		drops += n
	}
	return drops, nil
}

// socketInodes lists the inodes of pid's sockets.
func socketInodes(pid int) (map[string]bool, error) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	inodes := map[string]bool{}
	for _, e := range ents {
		link, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		if ino, ok := strings.CutPrefix(link, "socket:["); ok {
			inodes[strings.TrimSuffix(ino, "]")] = true
		}
	}
	return inodes, nil
}
