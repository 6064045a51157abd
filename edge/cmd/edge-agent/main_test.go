package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("site: tw01\nedge: tw01-e1\ndevices:\n  - {id: cr1-th, room: cr1, profile: th-renke, address: \"10.0.0.5:502\", unit: 1}\n"), 0o600)
	badProfile := filepath.Join(dir, "bad-profile.yaml")
	os.WriteFile(badProfile, []byte("site: tw01\nedge: tw01-e1\ndevices:\n  - {id: cr1-th, profile: no-such-model, address: \"10.0.0.5:502\"}\n"), 0o600)
	badField := filepath.Join(dir, "bad-field.yaml")
	os.WriteFile(badField, []byte("site: tw01\nedge: tw01-e1\nmqtt:\n  broker: carrier-pigeon\n"), 0o600)
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"check-config", good}, 0},
		{[]string{"check-config", badProfile}, 1},
		{[]string{"check-config", badField}, 1},
		{[]string{"check-config", filepath.Join(dir, "missing.yaml")}, 1},
		{[]string{"check-config"}, 2},
		{[]string{"--version"}, 0},
		{[]string{"-config", badField}, 1},
		{[]string{"-no-such-flag"}, 2},
	} {
		if got := run(tc.args); got != tc.want {
			t.Errorf("edge-agent %v = %d, want %d", tc.args, got, tc.want)
		}
	}
}
