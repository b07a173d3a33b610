package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dnslb/dnslb/dnslb/config"
)

const ctlUsage = `usage: dnslb ctl [-config FILE] [-json] [-timeout D] COMMAND [ARGS]

Talks to a running dnslb over its HTTP API (address and admin token file
from the config).

  status                    pools and members: health, override, RTT, last error
  drain POOL MEMBER         stop serving MEMBER (still probed)
  undrain POOL MEMBER       back to automatic (clears any override)
  force-up POOL MEMBER      serve MEMBER whatever its check says
  force-down POOL MEMBER    never serve MEMBER
  reload                    re-read the config and zone files
  upgrade                   replace the binary without dropping a query

Exit status: 0 on success, 1 when the server refused or failed, 2 on bad usage.
`

// ctlOverrides maps the subcommands that set an override to its API value.
var ctlOverrides = map[string]string{"drain": "drain", "undrain": "none", "force-up": "up", "force-down": "down"}

func runCtl(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("dnslb ctl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, ctlUsage, "\nflags:\n"); fs.PrintDefaults() }
	cfgPath := fs.String("config", "/etc/dnslb/dnslb.toml", "the server's config: where its HTTP side listens, and its admin_token_file")
	asJSON := fs.Bool("json", false, "print the server's JSON answer as it is")
	timeout := fs.Duration("timeout", 90*time.Second, "give up after this long (an upgrade waits for the new process)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fs.Usage()
		return 2
	}
	cmd, rest := rest[0], rest[1:]
	want := 0
	if _, ok := ctlOverrides[cmd]; ok {
		want = 2
	} else if cmd != "status" && cmd != "reload" && cmd != "upgrade" {
		fmt.Fprintf(stderr, "dnslb ctl: unknown command %q\n\n", cmd)
		fs.Usage()
		return 2
	}
	if len(rest) != want {
		fmt.Fprintf(stderr, "dnslb ctl %s: takes %d arguments, got %d\n\n", cmd, want, len(rest))
		fs.Usage()
		return 2
	}
	addr, tokenFile, err := config.AdminEndpoint(*cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, "dnslb ctl:", err)
		return 1
	}
	c := &ctlClient{base: "http://" + addr, tokenFile: tokenFile, http: &http.Client{Timeout: *timeout}}
	var body []byte
	switch cmd {
	case "status":
		body, err = c.do(http.MethodGet, "/api/v1/status", nil)
	case "reload":
		body, err = c.do(http.MethodPost, "/api/v1/reload", nil)
	case "upgrade":
		body, err = c.do(http.MethodPost, "/api/v1/upgrade", nil)
	default:
		path := "/api/v1/pools/" + url.PathEscape(rest[0]) + "/members/" + url.PathEscape(rest[1]) + "/override"
		body, err = c.do(http.MethodPost, path, map[string]string{"override": ctlOverrides[cmd]})
	}
	if *asJSON && body != nil {
		stdout.Write(body)
	}
	if err != nil {
		fmt.Fprintf(stderr, "dnslb ctl %s: %v\n", cmd, err)
		return 1
	}
	if !*asJSON {
		if err := ctlPrint(stdout, cmd, body); err != nil {
			fmt.Fprintf(stderr, "dnslb ctl %s: %v\n", cmd, err)
			return 1
		}
	}
	return 0
}

type ctlClient struct {
	base, tokenFile string
	http            *http.Client
}

// do sends one API call. The token goes with mutating calls only, so that
// status works for users who may not read it. A non-2xx answer is an error
// carrying the server's own message; its body is returned too.
func (c *ctlClient) do(method, path string, payload any) ([]byte, error) {
	var rd io.Reader
	if payload != nil {
		b, err := json.Marshal(payload)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	if method != http.MethodGet && c.tokenFile != "" {
		tok, err := readFirstLine(c.tokenFile)
		if err != nil {
			return nil, fmt.Errorf("admin token: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error  string   `json:"error"`
			Errors []string `json:"errors"`
		}
		_ = json.Unmarshal(body, &e)
		msg := strings.Join(append([]string{e.Error}, e.Errors...), "\n")
		if strings.TrimSpace(msg) == "" {
			msg = strings.TrimSpace(string(body))
		}
		return body, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(msg))
	}
	return body, nil
}

func readFirstLine(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	if line = strings.TrimSpace(line); line == "" {
		return "", errors.New(path + " is empty")
	}
	return line, nil
}

// ctlPrint renders a successful answer for a person.
func ctlPrint(w io.Writer, cmd string, body []byte) error {
	switch cmd {
	case "status":
		return printStatus(w, body)
	case "reload":
		var r struct {
			SHA256 string `json:"sha256"`
		}
		if err := json.Unmarshal(body, &r); err != nil {
			return err
		}
		fmt.Fprintf(w, "reloaded: config sha256 %s\n", r.SHA256)
	case "upgrade":
		fmt.Fprintln(w, "upgraded: the new process serves; the old one finishes its TCP queries and exits")
	default:
		var r struct {
			Pool, Member, Override string
		}
		if err := json.Unmarshal(body, &r); err != nil {
			return err
		}
		fmt.Fprintf(w, "%s %s: override %s\n", r.Pool, r.Member, r.Override)
	}
	return nil
}

func printStatus(w io.Writer, body []byte) error {
	var st struct {
		Version string `json:"version"`
		Ready   bool   `json:"ready"`
		Config  struct {
			File   string    `json:"file"`
			SHA256 string    `json:"sha256"`
			Loaded time.Time `json:"loaded"`
		} `json:"config"`
		Pools []struct {
			Name    string `json:"name"`
			Policy  string `json:"policy"`
			Healthy int    `json:"healthy"`
			Members []struct {
				Address   string  `json:"address"`
				Health    string  `json:"health"`
				Eligible  bool    `json:"eligible"`
				Override  string  `json:"override"`
				Check     string  `json:"check"`
				RTTMillis float64 `json:"rtt_ms"`
				LastError string  `json:"last_error"`
			} `json:"members"`
		} `json:"pools"`
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return fmt.Errorf("status: %w", err)
	}
	ready := "ready"
	if !st.Ready {
		ready = "not ready"
	}
	sum := st.Config.SHA256
	if len(sum) > 12 {
		sum = sum[:12]
	}
	fmt.Fprintf(w, "dnslb %s, %s; config %s (sha256 %s, loaded %s)\n\n", st.Version, ready, st.Config.File, sum, st.Config.Loaded.Local().Format(time.DateTime))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "POOL\tPOLICY\tMEMBER\tHEALTH\tOVERRIDE\tSERVED\tCHECK\tRTT\tLAST ERROR")
	for _, p := range st.Pools {
		for _, m := range p.Members {
			served, rtt, check := "no", "-", m.Check
			if m.Eligible {
				served = "yes"
			}
			if m.RTTMillis > 0 {
				rtt = fmt.Sprintf("%.1fms", m.RTTMillis)
			}
			if check == "" {
				check = "-"
			}
			lastErr := m.LastError
			if lastErr == "" {
				lastErr = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Name, p.Policy, m.Address, m.Health, m.Override, served, check, rtt, lastErr)
		}
	}
	return tw.Flush()
}
