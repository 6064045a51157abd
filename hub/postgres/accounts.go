package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/countylink/countylink/hub"
)

var _ hub.AccountStore = (*DB)(nil)

const userColumns = `name, display_name, role, township, password_hash, disabled, created_at, updated_at, created_by, password_set, last_login`

// CreateUser adds an account; hub.ErrConflict when the name is taken.
func (db *DB) CreateUser(ctx context.Context, u hub.User) error {
	tag, err := db.pool.Exec(ctx, `INSERT INTO users (`+userColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING`,
		storable(u.Name), storable(u.DisplayName), string(u.Role), storable(u.Township), u.PasswordHash, u.Disabled,
		ts(u.Created), ts(u.Updated), storable(u.CreatedBy), nullTime(u.PasswordSet), nullTime(u.LastLogin))
	if err != nil {
		return fmt.Errorf("postgres user %s: %w", u.Name, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("user %s exists: %w", u.Name, hub.ErrConflict)
	}
	return nil
}

func scanUser(row pgx.Row) (*hub.User, error) {
	var u hub.User
	var role string
	var pwSet, last *time.Time
	if err := row.Scan(&u.Name, &u.DisplayName, &role, &u.Township, &u.PasswordHash, &u.Disabled,
		&u.Created, &u.Updated, &u.CreatedBy, &pwSet, &last); err != nil {
		return nil, err
	}
	u.Role = hub.Role(role)
	u.Created, u.Updated = u.Created.UTC(), u.Updated.UTC()
	u.PasswordSet, u.LastLogin = timeOf(pwSet), timeOf(last)
	return &u, nil
}

// User is the account of name, nil when there is none.
func (db *DB) User(ctx context.Context, name string) (*hub.User, error) {
	u, err := scanUser(db.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE name = $1`, storable(name)))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("postgres user %s: %w", name, err)
	}
	return u, nil
}

// Users lists the accounts by name.
func (db *DB) Users(ctx context.Context) ([]hub.User, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+userColumns+` FROM users ORDER BY name COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("postgres users: %w", err)
	}
	defer rows.Close()
	out := []hub.User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres users: %w", err)
		}
		out = append(out, *u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres users: %w", err)
	}
	return out, nil
}

// UpdateUser replaces an account's record; hub.ErrNotFound when none.
func (db *DB) UpdateUser(ctx context.Context, u hub.User) error {
	tag, err := db.pool.Exec(ctx, `UPDATE users SET display_name = $2, role = $3, township = $4, password_hash = $5, disabled = $6,
		created_at = $7, updated_at = $8, created_by = $9, password_set = $10, last_login = $11 WHERE name = $1`,
		storable(u.Name), storable(u.DisplayName), string(u.Role), storable(u.Township), u.PasswordHash, u.Disabled,
		ts(u.Created), ts(u.Updated), storable(u.CreatedBy), nullTime(u.PasswordSet), nullTime(u.LastLogin))
	if err != nil {
		return fmt.Errorf("postgres user %s: %w", u.Name, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("user %s: %w", u.Name, hub.ErrNotFound)
	}
	return nil
}

// CreateSession keeps a new session.
func (db *DB) CreateSession(ctx context.Context, s hub.Session) error {
	if _, err := db.pool.Exec(ctx, `INSERT INTO sessions (id_hash, username, token, created, last_seen, expires) VALUES ($1, $2, $3, $4, $5, $6)`,
		s.IDHash, storable(s.User), s.Token, ts(s.Created), ts(s.LastSeen), ts(s.Expires)); err != nil {
		return fmt.Errorf("postgres session: %w", err)
	}
	return nil
}

// Session is the session of idHash, nil when there is none.
func (db *DB) Session(ctx context.Context, idHash string) (*hub.Session, error) {
	var s hub.Session
	err := db.pool.QueryRow(ctx, `SELECT id_hash, username, token, created, last_seen, expires FROM sessions WHERE id_hash = $1`, storable(idHash)).
		Scan(&s.IDHash, &s.User, &s.Token, &s.Created, &s.LastSeen, &s.Expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("postgres session: %w", err)
	}
	s.Created, s.LastSeen, s.Expires = s.Created.UTC(), s.LastSeen.UTC(), s.Expires.UTC()
	return &s, nil
}

// TouchSession sets a session's LastSeen.
func (db *DB) TouchSession(ctx context.Context, idHash string, at time.Time) error {
	if _, err := db.pool.Exec(ctx, `UPDATE sessions SET last_seen = $2 WHERE id_hash = $1`, storable(idHash), ts(at)); err != nil {
		return fmt.Errorf("postgres session: %w", err)
	}
	return nil
}

// DeleteSession ends one session.
func (db *DB) DeleteSession(ctx context.Context, idHash string) error {
	if _, err := db.pool.Exec(ctx, `DELETE FROM sessions WHERE id_hash = $1`, storable(idHash)); err != nil {
		return fmt.Errorf("postgres session: %w", err)
	}
	return nil
}

// DeleteSessionsOf ends every session of a user or of a kiosk token.
func (db *DB) DeleteSessionsOf(ctx context.Context, user, token string) (int, error) {
	if user == "" && token == "" {
		return 0, nil
	}
	tag, err := db.pool.Exec(ctx, `DELETE FROM sessions WHERE ($1 <> '' AND username = $1) OR ($2 <> '' AND token = $2)`, storable(user), storable(token))
	if err != nil {
		return 0, fmt.Errorf("postgres sessions: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// DeleteExpiredSessions removes the sessions past their absolute expiry
// at now, or last seen before idleBefore.
func (db *DB) DeleteExpiredSessions(ctx context.Context, now, idleBefore time.Time) (int, error) {
	tag, err := db.pool.Exec(ctx, `DELETE FROM sessions WHERE expires <= $1 OR last_seen < $2`, ts(now), ts(idleBefore))
	if err != nil {
		return 0, fmt.Errorf("postgres sessions: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

const tokenColumns = `id, kind, name, role, township, hash, created, created_by, expires, revoked, last_used`

// CreateToken keeps a new token; hub.ErrConflict when its id or hash is
// taken.
func (db *DB) CreateToken(ctx context.Context, t hub.APIToken) error {
	tag, err := db.pool.Exec(ctx, `INSERT INTO tokens (`+tokenColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING`,
		storable(t.ID), t.Kind, storable(t.Name), string(t.Role), storable(t.Township), t.Hash, ts(t.Created), storable(t.CreatedBy),
		nullTime(t.Expires), nullTime(t.Revoked), nullTime(t.LastUsed))
	if err != nil {
		return fmt.Errorf("postgres token %s: %w", t.ID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("token %s exists: %w", t.ID, hub.ErrConflict)
	}
	return nil
}

func scanToken(row pgx.Row) (*hub.APIToken, error) {
	var t hub.APIToken
	var role string
	var expires, revoked, used *time.Time
	if err := row.Scan(&t.ID, &t.Kind, &t.Name, &role, &t.Township, &t.Hash, &t.Created, &t.CreatedBy, &expires, &revoked, &used); err != nil {
		return nil, err
	}
	t.Role = hub.Role(role)
	t.Created = t.Created.UTC()
	t.Expires, t.Revoked, t.LastUsed = timeOf(expires), timeOf(revoked), timeOf(used)
	return &t, nil
}

func (db *DB) tokenWhere(ctx context.Context, where, arg string) (*hub.APIToken, error) {
	t, err := scanToken(db.pool.QueryRow(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE `+where, storable(arg)))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("postgres token: %w", err)
	}
	return t, nil
}

// Token is the token of id, nil when there is none.
func (db *DB) Token(ctx context.Context, id string) (*hub.APIToken, error) {
	return db.tokenWhere(ctx, "id = $1", id)
}

// TokenByHash is the token whose secret hashes to hash, nil when none.
func (db *DB) TokenByHash(ctx context.Context, hash string) (*hub.APIToken, error) {
	return db.tokenWhere(ctx, "hash = $1", hash)
}

// Tokens lists every token, newest first.
func (db *DB) Tokens(ctx context.Context) ([]hub.APIToken, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+tokenColumns+` FROM tokens ORDER BY created DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("postgres tokens: %w", err)
	}
	defer rows.Close()
	out := []hub.APIToken{}
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres tokens: %w", err)
		}
		out = append(out, *t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres tokens: %w", err)
	}
	return out, nil
}

// RevokeToken marks a token revoked at at, keeping the first revocation.
func (db *DB) RevokeToken(ctx context.Context, id string, at time.Time) error {
	tag, err := db.pool.Exec(ctx, `UPDATE tokens SET revoked = coalesce(revoked, $2) WHERE id = $1`, storable(id), ts(at))
	if err != nil {
		return fmt.Errorf("postgres token %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("token %s: %w", id, hub.ErrNotFound)
	}
	return nil
}

// TouchToken sets a token's LastUsed.
func (db *DB) TouchToken(ctx context.Context, id string, at time.Time) error {
	if _, err := db.pool.Exec(ctx, `UPDATE tokens SET last_used = $2 WHERE id = $1`, storable(id), ts(at)); err != nil {
		return fmt.Errorf("postgres token %s: %w", id, err)
	}
	return nil
}
