// Package testenv starts the real services CountyLink runs against, a
// Mosquitto broker and an InfluxDB 1.8 server, for integration tests
// anywhere in the repository.
//
// Each service runs as a child process on free ports of 127.0.0.1 with its
// data in t.TempDir(), is ready (accepting connections) when the Start
// function returns, and is stopped by t.Cleanup. Stop, Kill and Start let a
// test restart a service on the same port with the same data, to exercise
// reconnects and crash recovery.
//
// The services are configured from the files that are deployed, so a test
// runs against the production settings:
//
//   - StartMosquitto reads deploy/mosquitto/mosquitto.conf (the queue sizes
//     a slow QoS 1 subscriber such as the hub depends on, the payload size
//     limit, persistence) and overrides only the listener, the persistence
//     directory, the log file, the pid file and the user; it is an open
//     broker (anonymous clients, no ACL), as most tests need.
//   - StartSecureMosquitto reads the same file and keeps its security: the
//     loopback listener with password logins, the TLS listener requiring
//     client certificates from the county CA, the revocation list, the
//     password file and the ACL, from a directory the test fills with
//     hub/provision. Reload sends it SIGHUP.
//   - StartInfluxDB reads deploy/influxdb/influxdb.conf (index, WAL, the v2
//     API switched on by flux-enabled) and overrides only ports,
//     directories, logging and the services a test does not need.
//
// The binaries are found by RequireBinary: mosquitto from the Debian package
// (/usr/sbin/mosquitto), influxd built with
// "go install github.com/influxdata/influxdb/cmd/influxd@v1.8.10" (found in
// $(go env GOPATH)/bin). "make deps" installs both. When a binary is
// missing the test is skipped with that hint, except when the environment
// variable CI is true: then the test fails, so a CI run can never pass by
// skipping the integration tests.
//
// PostgreSQL is not started: RequirePostgres finds the machine's server
// (COUNTYLINK_TEST_PG, else the local socket or 127.0.0.1:5432 as user
// postgres), with the same rule when it is missing, and PostgresDatabase
// gives a test a fresh database, dropped at its cleanup.
//
// A typical test:
//
//	func TestIngest(t *testing.T) {
//		broker := testenv.StartMosquitto(t)
//		db := testenv.StartInfluxDB(t)
//		// ... run the hub against broker.URL(), db.URL(), db.Bucket(), db.Token()
//		rows := db.WaitRows(t, `SELECT * FROM coldroom GROUP BY *`, 1, 10*time.Second)
//		_ = rows
//	}
package testenv
