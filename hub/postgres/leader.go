package postgres

import (
	"context"
	"hash/fnv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/countylink/countylink/hub"
)

// LeaderInterval is how often a hub that does not lead tries to take the
// lead, and how often the leader checks its connection: when the leader's
// hub stops or its connection dies, another takes over within about this
// long (after PostgreSQL notices the dead connection: at once for a closed
// one, within about 11 s by TCP keepalives for a silent one).
const LeaderInterval = 2 * time.Second

// Leader is one hub's part in an election among the hubs sharing the
// database: the hub whose session holds a PostgreSQL advisory lock
// (pg_try_advisory_lock) on a connection of its own leads. The lock goes
// with the session, so a hub that stops, crashes or loses its connection
// leads no more, and another takes it within seconds. A Leader tries to
// take the lock every LeaderInterval until Close (or the DB's Close), and
// gives it up when its connection fails a check.
//
// Two hubs may both believe they lead for at most one check, while one's
// connection is dying: what the leader does (store an alarm transition,
// notify) must bear being done twice at such a moment, which is rare.
type Leader struct {
	db   *DB
	name string
	key  int64

	mu      sync.Mutex
	leading bool
	changed chan struct{}

	cancel context.CancelFunc
	done   chan struct{}
}

var _ hub.Leader = (*Leader)(nil)

// Leader starts campaigning for the leadership called name (hubs that
// agree on a name elect one leader for it) until ctx ends, Close is
// called, or the DB is closed.
func (db *DB) Leader(ctx context.Context, name string) *Leader {
	h := fnv.New64a()
	h.Write([]byte("countylink-leader/" + name))
	l := &Leader{db: db, name: name, key: int64(h.Sum64()), changed: make(chan struct{}), done: make(chan struct{})}
	ctx, l.cancel = context.WithCancel(ctx)
	db.leadersMu.Lock()
	if db.leaders == nil { // closed
		db.leadersMu.Unlock()
		l.cancel()
		close(l.done)
		return l
	}
	db.leaders[l] = true
	db.leadersMu.Unlock()
	go l.run(ctx)
	return l
}

// Name is the leadership's name.
func (l *Leader) Name() string { return l.name }

// IsLeader reports whether this hub leads now.
func (l *Leader) IsLeader() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.leading
}

// Changed returns a channel closed at the next change of IsLeader.
func (l *Leader) Changed() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.changed
}

// Close stops campaigning and gives up the lead, closing the connection
// that held it.
func (l *Leader) Close() error {
	l.cancel()
	<-l.done
	l.db.leadersMu.Lock()
	delete(l.db.leaders, l)
	l.db.leadersMu.Unlock()
	return nil
}

func (l *Leader) set(leading bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.leading != leading {
		l.leading = leading
		close(l.changed)
		l.changed = make(chan struct{})
	}
}

// config is the configuration of the leader's connection: the store's,
// with TCP keepalives short enough that PostgreSQL drops the session of
// a hub that went silent (and so its lock) within seconds.
func (l *Leader) config() *pgx.ConnConfig {
	cfg := l.db.conn.Copy()
	params := make(map[string]string, len(cfg.RuntimeParams)+4)
	for k, v := range cfg.RuntimeParams {
		params[k] = v
	}
	params["application_name"] = "countylink-hub leader " + l.name
	params["tcp_keepalives_idle"], params["tcp_keepalives_interval"], params["tcp_keepalives_count"] = "5", "2", "3"
	cfg.RuntimeParams = params
	if cfg.ConnectTimeout <= 0 || cfg.ConnectTimeout > 5*time.Second {
		cfg.ConnectTimeout = 5 * time.Second
	}
	return cfg
}

func (l *Leader) run(ctx context.Context) {
	defer close(l.done)
	cfg := l.config()
	var conn *pgx.Conn
	drop := func() {
		l.set(false) // before the lock goes, so that two never lead knowingly
		if conn != nil {
			cctx, cancel := context.WithTimeout(context.Background(), time.Second)
			conn.Close(cctx)
			cancel()
			conn = nil
		}
	}
	defer drop()
	next := time.NewTimer(0)
	defer next.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-next.C:
		}
		next.Reset(LeaderInterval)
		if conn == nil {
			c, err := pgx.ConnectConfig(ctx, cfg)
			if err != nil {
				continue
			}
			conn = c
		}
		qctx, cancel := context.WithTimeout(ctx, LeaderInterval)
		var err error
		if l.IsLeader() {
			// The lock lives as long as the session: a live connection is
			// a held lock.
			err = conn.Ping(qctx)
		} else {
			var got bool
			if err = conn.QueryRow(qctx, `SELECT pg_try_advisory_lock($1)`, l.key).Scan(&got); err == nil && got {
				l.set(true)
			}
		}
		cancel()
		if err != nil {
			drop()
		}
	}
}
