package server

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/provision"
	"github.com/countylink/countylink/hub/sites"
)

// TestDemoPKI: the first start issues every demo client a certificate,
// a later start reuses them, a site added later gets its own, and a
// removed bundle is issued again.
func TestDemoPKI(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	all := sites.Demo()
	want := 0
	for _, s := range all {
		want += len(DemoIdentities(s))
	}
	p, err := openDemoPKI(dir, "127.0.0.1:0", contract.DefaultPrefix, log)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := p.ensure(all); err != nil || n != want || p.count() != want {
		t.Fatalf("first start: %d issued, %d in the registry, want %d (%v)", n, p.count(), want, err)
	}
	tw01 := provision.LocalBundle(dir, contract.EdgeIdentity("tw01", "tw01-e1"))
	cert, err := os.ReadFile(filepath.Join(tw01, provision.EdgeCert))
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(tw01, provision.EdgeKey)); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("tw01's key: %v, want mode 0600", err)
	}

	p, err = openDemoPKI(dir, "127.0.0.1:0", contract.DefaultPrefix, log)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := p.ensure(all); err != nil || n != 0 {
		t.Fatalf("second start: %d issued (%v), want none", n, err)
	}
	if again, _ := os.ReadFile(filepath.Join(tw01, provision.EdgeCert)); !bytes.Equal(again, cert) {
		t.Error("tw01's certificate changed at the second start")
	}

	p.siteAdded(hub.Site{ID: "tw01-v99", Kind: hub.Village, Parent: "tw01"})
	if _, err := os.Stat(keyOf(dir, contract.EdgeIdentity("tw01-v99", "vp"))); err != nil {
		t.Errorf("the added village point's phone: %v", err)
	}
	if err := os.RemoveAll(tw01); err != nil {
		t.Fatal(err)
	}
	if n, err := p.ensure(all); err != nil || n != 1 {
		t.Errorf("a removed bundle: %d issued (%v), want 1", n, err)
	}
	if p.count() != want+1 {
		t.Errorf("%d identities, want %d", p.count(), want+1)
	}
}

// keyOf is the key file of id's bundle.
func keyOf(dir string, id contract.Identity) string {
	return filepath.Join(provision.LocalBundle(dir, id), provision.EdgeKey)
}
