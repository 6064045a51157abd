package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/auth"
	"github.com/countylink/countylink/hub/httpapi"
	"github.com/countylink/countylink/hub/postgres"
	"github.com/countylink/countylink/hub/sqlite"
)

// Files of data_dir the demo (hub -demo) writes, each mode 0600: the
// admin's password, the wall screen's kiosk token and the API token of
// the demo's simulated coordinators (devsim -county reads it).
const (
	DemoAdmin         = "admin"
	DemoPasswordFile  = "admin-password"
	DemoKioskFile     = "demo-kiosk-token"
	DemoAPITokenFile  = "demo-api-token"
	demoKioskScreen   = "wall"
	demoAPITokenName  = "demo-bots"
	demoPasswordChars = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
)

// DemoAccess is what the demo prints at its start: how to sign in.
type DemoAccess struct {
	Admin string
	// Password is the admin's password when this start made the account,
	// "" on a later start (it is still in PasswordFile).
	Password     string
	PasswordFile string
	KioskPath    string // the wall screen's path, with its kiosk token
	APITokenFile string // the demo bots' API token
	// PKIDir is the demo's county CA and registry (mqtt.embedded_pki_dir),
	// EdgesDir its clients' bundles, one per identity, Identities how many
	// are active and BrokerTLSURL where the clients connect; empty when
	// the embedded broker runs open.
	PKIDir, EdgesDir, BrokerTLSURL string
	Identities                     int
}

// RandomPassword is a password of n characters a person can type: letters
// and digits without the look-alikes (0 O 1 l I).
func RandomPassword(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random password: %w", err)
	}
	for i := range b {
		b[i] = demoPasswordChars[int(b[i])%len(demoPasswordChars)] // 256 % 56 leaves a slight bias; 20 characters hold over 110 bits
	}
	return string(b), nil
}

// writeSecret writes a secret to a file of mode 0600, replacing it.
func writeSecret(path, v string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(v+"\n"), 0o600); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o600); err != nil { // an existing file keeps its mode through WriteFile
		return err
	}
	return os.Rename(tmp, path)
}

// demoToken is the token kept in file when it is still active in the
// store, else a new one issued and written there.
func (m *Main) demoToken(ctx context.Context, file, kind, name string, role hub.Role) (string, error) {
	if b, err := os.ReadFile(file); err == nil {
		secret := strings.TrimSpace(string(b))
		t, err := m.Store.TokenByHash(ctx, auth.HashSecret(secret))
		if err != nil {
			return "", err
		}
		if t != nil && t.Kind == kind && t.Active(time.Now()) {
			return secret, nil
		}
	}
	secret, _, err := m.Auth.IssueToken(ctx, kind, name, role, "", time.Time{}, "hub")
	if err != nil {
		return "", err
	}
	return secret, writeSecret(file, secret)
}

// demoAccounts makes what the demo needs to be used at once: an admin
// with a random password (printed once, and kept in data_dir for a
// demo user to find), a kiosk token for the wall screen and an API token
// for the simulated coordinators, both kept in data_dir.
func (m *Main) demoAccounts(ctx context.Context) (*DemoAccess, error) {
	dir := m.Config.DataDir
	a := &DemoAccess{Admin: DemoAdmin, PasswordFile: filepath.Join(dir, DemoPasswordFile), APITokenFile: filepath.Join(dir, DemoAPITokenFile)}
	u, err := m.Store.User(ctx, DemoAdmin)
	if err != nil {
		return nil, err
	}
	if u == nil {
		pw, err := RandomPassword(20)
		if err != nil {
			return nil, err
		}
		if _, err := m.Auth.CreateUser(ctx, hub.User{Name: DemoAdmin, DisplayName: "管理员", Role: hub.RoleAdmin}, pw, "hub"); err != nil {
			return nil, err
		}
		if err := writeSecret(a.PasswordFile, pw); err != nil {
			return nil, fmt.Errorf("demo admin password: %w", err)
		}
		a.Password = pw
	}
	kiosk, err := m.demoToken(ctx, filepath.Join(dir, DemoKioskFile), hub.TokenKiosk, demoKioskScreen, hub.RoleViewer)
	if err != nil {
		return nil, fmt.Errorf("demo kiosk token: %w", err)
	}
	a.KioskPath = httpapi.KioskPath(kiosk)
	if _, err := m.demoToken(ctx, a.APITokenFile, hub.TokenAPI, demoAPITokenName, hub.RoleCounty); err != nil {
		return nil, fmt.Errorf("demo API token: %w", err)
	}
	return a, nil
}

// AddUser makes an account in the store cfg names, without starting the
// hub: the first admin of a real install (hub user add). With an empty
// password it makes a random one and answers it.
func AddUser(ctx context.Context, cfg Config, u hub.User, password string, log *slog.Logger) (string, error) {
	var store hub.AccountStore
	switch cfg.Store.Driver {
	case DriverPostgres:
		db, err := postgres.Open(ctx, cfg.Store.DSN)
		if err != nil {
			return "", err
		}
		defer db.Close()
		store = db
	case DriverSQLite, "":
		if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
			return "", fmt.Errorf("data_dir: %w", err)
		}
		db, err := sqlite.Open(filepath.Join(cfg.DataDir, "hub.db"))
		if err != nil {
			return "", err
		}
		defer db.Close()
		store = db
	default:
		return "", fmt.Errorf("store.driver: %q must be sqlite or postgres", cfg.Store.Driver)
	}
	made := password == ""
	if made {
		var err error
		if password, err = RandomPassword(20); err != nil {
			return "", err
		}
	}
	svc := auth.New(store, cfg.Auth, nil, log)
	if _, err := svc.CreateUser(ctx, u, password, "hub user add"); err != nil {
		if errors.Is(err, hub.ErrConflict) {
			return "", fmt.Errorf("user %s exists already (change it with PATCH /api/v1/users/%s)", u.Name, u.Name)
		}
		return "", err
	}
	if made {
		return password, nil
	}
	return "", nil
}
