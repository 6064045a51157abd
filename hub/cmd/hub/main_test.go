package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "hub.yaml")
	os.WriteFile(good, []byte("listen: 127.0.0.1:8080\ndata_dir: /tmp/x\nmqtt:\n  broker: tcp://127.0.0.1:1883\ninflux:\n  url: http://127.0.0.1:8086\n  bucket: countylink/autogen\n"), 0o600)
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("listen: nowhere\ninflux:\n  url: ftp://x\n"), 0o600)
	typo := filepath.Join(dir, "typo.yaml")
	os.WriteFile(typo, []byte("lisen: 127.0.0.1:8080\n"), 0o600)
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"check-config", good}, 0},
		{[]string{"check-config", bad}, 1},
		{[]string{"check-config", typo}, 1},
		{[]string{"check-config"}, 2},
		{[]string{"--version"}, 0},
		{[]string{"-config", bad}, 1},
	} {
		if got := run(tc.args); got != tc.want {
			t.Errorf("hub %v = %d, want %d", tc.args, got, tc.want)
		}
	}
}

func TestProvision(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"provision"}, 2},
		{[]string{"provision", "init", "-dir", dir, "-broker-host", "localhost"}, 0},
		{[]string{"provision", "edge", "-dir", dir, "-site", "tw01", "-edge", "tw01-e1", "-out", filepath.Join(t.TempDir(), "box")}, 0},
		{[]string{"provision", "revoke", "-dir", dir, "-site", "tw01", "-edge", "tw01-e1"}, 0},
		{[]string{"provision", "revoke", "-dir", dir, "-site", "tw01", "-edge", "tw01-e1"}, 1},
	} {
		if got := run(tc.args); got != tc.want {
			t.Errorf("hub %v = %d, want %d", tc.args, got, tc.want)
		}
	}
}

func TestUserAdd(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"user", "add", "-data", dir, "-name", "root", "-role", "admin"}, 0},
		{[]string{"user", "add", "-data", dir, "-name", "root", "-role", "admin"}, 1},                // exists
		{[]string{"user", "add", "-data", dir, "-name", "wang", "-role", "township_coordinator"}, 1}, // no township
		{[]string{"user", "add", "-data", dir, "-name", "has space"}, 1},
		{[]string{"user", "add", "-data", dir, "-name", "li", "-role", "staff", "-township", "tw01"}, 0},
		{[]string{"user", "add", "-bogus"}, 2},
	} {
		if got := run(tc.args); got != tc.want {
			t.Errorf("hub %v = %d, want %d", tc.args, got, tc.want)
		}
	}
}
