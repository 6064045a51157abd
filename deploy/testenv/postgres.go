package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgreSQL is not started here, unlike Mosquitto and InfluxDB: the tests
// use the machine's server, the one COUNTYLINK_TEST_PG names (a DSN of a
// database whose user may create databases), else the local server's
// postgres database as user postgres, by the Unix socket or by TCP on
// 127.0.0.1:5432. Each test gets a database of its own.
var postgresAdminDSNs = []string{
	"host=/var/run/postgresql user=postgres dbname=postgres",
	"host=127.0.0.1 port=5432 user=postgres dbname=postgres sslmode=disable",
}

// postgresAdmin is the DSN of the server's administrative database, found
// once.
var postgresAdmin = sync.OnceValues(func() (string, error) {
	dsns := postgresAdminDSNs
	if dsn := os.Getenv("COUNTYLINK_TEST_PG"); dsn != "" {
		dsns = []string{dsn}
	}
	var errs []error
	for _, dsn := range dsns {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		conn, err := pgx.Connect(ctx, dsn)
		if err == nil {
			err = conn.Ping(ctx)
			conn.Close(ctx)
		}
		cancel()
		if err == nil {
			return dsn, nil
		}
		errs = append(errs, err)
	}
	return "", errors.Join(errs...)
})

// RequirePostgres returns the DSN of the PostgreSQL server's
// administrative database. When no server answers the test is skipped,
// or fails when the environment variable CI is true, so a CI run cannot
// pass by skipping the PostgreSQL tests.
func RequirePostgres(t testing.TB) string {
	t.Helper()
	dsn, err := postgresAdmin()
	if err != nil {
		msg := "testenv: no PostgreSQL server answers (set COUNTYLINK_TEST_PG to the DSN of one): " + err.Error()
		if ciEnabled() {
			t.Fatalf("%s; CI=true, so a missing service fails the test instead of skipping it", msg)
		}
		t.Skipf("%s; skipping (with CI=true this is a failure)", msg)
	}
	return dsn
}

// PostgresDatabase creates an empty database on the PostgreSQL server
// (see RequirePostgres), dropped at the test's cleanup, and returns its
// DSN.
func PostgresDatabase(t testing.TB) string {
	t.Helper()
	adminDSN := RequirePostgres(t)
	var b [6]byte
	rand.Read(b[:])
	name := "countylink_test_" + hex.EncodeToString(b[:])
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, adminDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, adminDSN)
		if err != nil {
			t.Errorf("drop of %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop of %s: %v", name, err)
		}
	})
	return withDatabase(adminDSN, name)
}

// withDatabase is dsn naming database name instead.
func withDatabase(dsn, name string) string {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		u.Path = "/" + name
		return u.String()
	}
	var kept []string
	for _, f := range strings.Fields(dsn) {
		if !strings.HasPrefix(f, "dbname=") {
			kept = append(kept, f)
		}
	}
	return strings.Join(append(kept, "dbname="+name), " ")
}
