package dnslb

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-acme/lego/v4/certificate"
	"github.com/go-acme/lego/v4/challenge/dns01"
	"github.com/go-acme/lego/v4/lego"
	"github.com/go-acme/lego/v4/providers/dns/rfc2136"
	"github.com/go-acme/lego/v4/registration"
	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"github.com/miekg/dns"
)

type acmeUser struct {
	key crypto.PrivateKey
	reg *registration.Resource
}

func (u *acmeUser) GetEmail() string                        { return "" }
func (u *acmeUser) GetRegistration() *registration.Resource { return u.reg }
func (u *acmeUser) GetPrivateKey() crypto.PrivateKey        { return u.key }

// TestACMEDNS01 issues a certificate end to end: Pebble (the ACME test
// server, in process) validates DNS-01 by asking dnslb, on 127.0.3.2, for
// the TXT record that lego's rfc2136 provider put there with a signed
// update; afterwards lego deletes it and dnslb no longer serves it.
func TestACMEDNS01(t *testing.T) {
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")      // no random sleeps before validating
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0") // no deliberately bad nonces
	dir, _ := updateFixture(t)
	cfg := filepath.Join(dir, "acme.toml")
	conf := strings.Replace(readFile(t, filepath.Join(dir, "dnslb.toml")), `listen = ["127.0.0.1:0"]`, `listen = ["127.0.3.2:0"]`, 1)
	if err := writeFile(cfg, conf); err != nil {
		t.Fatal(err)
	}
	ts := start(t, cfg, Options{})

	logger := log.New(io.Discard, "", 0)
	store := db.NewMemoryStore()
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{"default": {Description: "default"}})
	validator := va.New(logger, 0, 0, false, ts.addr, store)
	front := wfe.New(logger, store, validator, authority, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)
	acme := httptest.NewTLSServer(front.Handler())
	defer acme.Close()

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	user := &acmeUser{key: key}
	lc := lego.NewConfig(user)
	lc.CADirURL = acme.URL + wfe.DirectoryPath
	lc.HTTPClient = acme.Client()
	lc.HTTPClient.Timeout = 30 * time.Second
	client, err := lego.NewClient(lc)
	if err != nil {
		t.Fatal(err)
	}
	pc := rfc2136.NewDefaultConfig()
	pc.Nameserver = ts.addr
	pc.TSIGAlgorithm = dns.HmacSHA256
	pc.TSIGKey = "acme"
	pc.TSIGSecret = acmeSecret
	pc.TTL = 60
	pc.PropagationTimeout = 60 * time.Second
	pc.PollingInterval = 200 * time.Millisecond
	pc.DNSTimeout = 5 * time.Second
	provider, err := rfc2136.NewDNSProviderConfig(pc)
	if err != nil {
		t.Fatal(err)
	}
	// lego asks dnslb itself whether the record is there (the zone's NS,
	// ns1.lb.example.com., is not a reachable server in this test).
	if err := client.Challenge.SetDNS01Provider(provider,
		dns01.AddRecursiveNameservers([]string{ts.addr}),
		dns01.DisableAuthoritativeNssPropagationRequirement()); err != nil {
		t.Fatal(err)
	}
	if user.reg, err = client.Registration.Register(registration.RegisterOptions{TermsOfServiceAgreed: true}); err != nil {
		t.Fatal(err)
	}
	domain := "app.lb.example.com"
	res, err := client.Certificate.Obtain(certificate.ObtainRequest{Domains: []string{domain}, Bundle: true})
	if err != nil {
		t.Fatalf("obtain: %v", err)
	}
	block, _ := pem.Decode(res.Certificate)
	if block == nil {
		t.Fatal("no certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := cert.VerifyHostname(domain); err != nil {
		t.Fatal(err)
	}
	if got := ts.txt(t, "udp", "_acme-challenge."+domain+"."); len(got) != 0 {
		t.Fatalf("the challenge record is still served: %v", got)
	}
	logs := ts.logs.String()
	if strings.Count(logs, "update accepted") < 2 || !strings.Contains(logs, "_acme-challenge.app.lb.example.com.") {
		t.Fatalf("the add and the delete were not both logged:\n%s", logs)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
