// Package profiles holds the device profiles the project ships, one folder
// per device model: profile.yaml (the register map), README.md (the device,
// its wiring and settings) and testcases/ (raw registers and the values they
// must decode to, checked by this package's tests).
//
// Installers add their own models by dropping profile files into a folder
// named in the edge agent's configuration; those take precedence over these.
package profiles

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/countylink/countylink/edge/profile"
)

//go:embed */profile.yaml
var builtin embed.FS

// Names lists the built-in profiles.
func Names() []string {
	dirs, _ := fs.ReadDir(builtin, ".")
	var out []string
	for _, d := range dirs {
		if d.IsDir() {
			out = append(out, d.Name())
		}
	}
	sort.Strings(out)
	return out
}

// Load returns the profile called name: from dir/name.yaml or
// dir/name/profile.yaml when dir is set and has it, else the built-in one.
func Load(dir, name string) (*profile.Profile, error) {
	if dir != "" {
		for _, p := range []string{filepath.Join(dir, name+".yaml"), filepath.Join(dir, name, "profile.yaml")} {
			data, err := os.ReadFile(p)
			if err == nil {
				pr, err := profile.Parse(data)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", p, err)
				}
				return pr, nil
			}
		}
	}
	data, err := builtin.ReadFile(name + "/profile.yaml")
	if err != nil {
		return nil, fmt.Errorf("no profile %q (built-in profiles: %v)", name, Names())
	}
	pr, err := profile.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("built-in profile %s: %w", name, err)
	}
	return pr, nil
}
