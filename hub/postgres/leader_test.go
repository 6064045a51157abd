package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// waitFor polls cond until it holds or within runs out.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLeader: of two hubs on one database exactly one leads; when the
// leader's store closes, the other leads within seconds, and a hub that
// closes leads no more.
func TestLeader(t *testing.T) {
	dsn := freshDatabase(t)
	ctx := context.Background()
	a, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	la, lb := a.Leader(ctx, "alarms"), b.Leader(ctx, "alarms")
	waitFor(t, 3*LeaderInterval, "a leader", func() bool { return la.IsLeader() || lb.IsLeader() })
	// Exactly one, for several rounds of retries.
	for range 3 * LeaderInterval / (100 * time.Millisecond) {
		if la.IsLeader() == lb.IsLeader() {
			t.Fatalf("a leads %v, b leads %v", la.IsLeader(), lb.IsLeader())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Another name is another election.
	other := b.Leader(ctx, "other")
	waitFor(t, 3*LeaderInterval, "the leader of another name", other.IsLeader)

	leaderDB, follower := a, lb
	if lb.IsLeader() {
		leaderDB, follower = b, la
	}
	changed := follower.Changed()
	start := time.Now()
	leaderDB.Close()
	waitFor(t, 3*LeaderInterval, "the other hub taking the lead", follower.IsLeader)
	t.Logf("the other hub led %v after the leader's store closed", time.Since(start).Round(10*time.Millisecond))
	select {
	case <-changed:
	default:
		t.Error("Changed was not closed when the follower became leader")
	}
	if la.IsLeader() && lb.IsLeader() {
		t.Error("both lead")
	}
	follower.Close()
	if follower.IsLeader() {
		t.Error("a closed Leader still leads")
	}
}

// TestLeaderConnectionLost: a leader whose session PostgreSQL ends steps
// down at its next check, and the leadership is taken again (by either
// hub) within seconds.
func TestLeaderConnectionLost(t *testing.T) {
	dsn := freshDatabase(t)
	ctx := context.Background()
	a, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	la, lb := a.Leader(ctx, "alarms"), b.Leader(ctx, "alarms")
	waitFor(t, 3*LeaderInterval, "a leader", func() bool { return la.IsLeader() != lb.IsLeader() })
	leader := la
	if lb.IsLeader() {
		leader = lb
	}
	stepped := leader.Changed()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// End the session that holds the lock.
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(l.pid)) FROM pg_locks l
		JOIN pg_database d ON d.oid = l.database
		WHERE l.locktype = 'advisory' AND l.granted AND d.datname = current_database()`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("terminated %d sessions holding an advisory lock, %v", n, err)
	}
	select {
	case <-stepped:
	case <-time.After(3 * LeaderInterval):
		t.Fatal("the leader did not step down after its session ended")
	}
	waitFor(t, 3*LeaderInterval, "a new leader", func() bool { return la.IsLeader() != lb.IsLeader() })
}
