package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/countylink/countylink/hub"
)

var _ hub.AccountStore = (*DB)(nil)

const userColumns = `name, display_name, role, township, password_hash, disabled, created_ms, updated_ms, created_by, password_set_ms, last_login_ms`

// CreateUser adds an account; hub.ErrConflict when the name is taken.
func (db *DB) CreateUser(ctx context.Context, u hub.User) error {
	res, err := db.write.ExecContext(ctx, `INSERT INTO users (`+userColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		u.Name, u.DisplayName, string(u.Role), u.Township, u.PasswordHash, u.Disabled,
		ms(u.Created), ms(u.Updated), u.CreatedBy, ms(u.PasswordSet), ms(u.LastLogin))
	if err != nil {
		return fmt.Errorf("sqlite user %s: %w", u.Name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("user %s exists: %w", u.Name, hub.ErrConflict)
	}
	return nil
}

func scanUser(row interface{ Scan(...any) error }) (*hub.User, error) {
	var u hub.User
	var role string
	var created, updated, pwSet, last int64
	if err := row.Scan(&u.Name, &u.DisplayName, &role, &u.Township, &u.PasswordHash, &u.Disabled,
		&created, &updated, &u.CreatedBy, &pwSet, &last); err != nil {
		return nil, err
	}
	u.Role = hub.Role(role)
	u.Created, u.Updated, u.PasswordSet, u.LastLogin = fromMS(created), fromMS(updated), fromMS(pwSet), fromMS(last)
	return &u, nil
}

// User is the account of name, nil when there is none.
func (db *DB) User(ctx context.Context, name string) (*hub.User, error) {
	u, err := scanUser(db.read.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite user %s: %w", name, err)
	}
	return u, nil
}

// Users lists the accounts by name.
func (db *DB) Users(ctx context.Context) ([]hub.User, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+userColumns+` FROM users ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("sqlite users: %w", err)
	}
	defer rows.Close()
	out := []hub.User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite users: %w", err)
		}
		out = append(out, *u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite users: %w", err)
	}
	return out, nil
}

// UpdateUser replaces an account's record; hub.ErrNotFound when none.
func (db *DB) UpdateUser(ctx context.Context, u hub.User) error {
	res, err := db.write.ExecContext(ctx, `UPDATE users SET display_name = ?, role = ?, township = ?, password_hash = ?, disabled = ?,
		created_ms = ?, updated_ms = ?, created_by = ?, password_set_ms = ?, last_login_ms = ? WHERE name = ?`,
		u.DisplayName, string(u.Role), u.Township, u.PasswordHash, u.Disabled,
		ms(u.Created), ms(u.Updated), u.CreatedBy, ms(u.PasswordSet), ms(u.LastLogin), u.Name)
	if err != nil {
		return fmt.Errorf("sqlite user %s: %w", u.Name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("user %s: %w", u.Name, hub.ErrNotFound)
	}
	return nil
}

// CreateSession keeps a new session.
func (db *DB) CreateSession(ctx context.Context, s hub.Session) error {
	if _, err := db.write.ExecContext(ctx, `INSERT INTO sessions (id_hash, username, token, created_ms, last_seen_ms, expires_ms) VALUES (?, ?, ?, ?, ?, ?)`,
		s.IDHash, s.User, s.Token, ms(s.Created), ms(s.LastSeen), ms(s.Expires)); err != nil {
		return fmt.Errorf("sqlite session: %w", err)
	}
	return nil
}

// Session is the session of idHash, nil when there is none.
func (db *DB) Session(ctx context.Context, idHash string) (*hub.Session, error) {
	var s hub.Session
	var created, seen, expires int64
	err := db.read.QueryRowContext(ctx, `SELECT id_hash, username, token, created_ms, last_seen_ms, expires_ms FROM sessions WHERE id_hash = ?`, idHash).
		Scan(&s.IDHash, &s.User, &s.Token, &created, &seen, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite session: %w", err)
	}
	s.Created, s.LastSeen, s.Expires = fromMS(created), fromMS(seen), fromMS(expires)
	return &s, nil
}

// TouchSession sets a session's LastSeen.
func (db *DB) TouchSession(ctx context.Context, idHash string, at time.Time) error {
	if _, err := db.write.ExecContext(ctx, `UPDATE sessions SET last_seen_ms = ? WHERE id_hash = ?`, ms(at), idHash); err != nil {
		return fmt.Errorf("sqlite session: %w", err)
	}
	return nil
}

// DeleteSession ends one session.
func (db *DB) DeleteSession(ctx context.Context, idHash string) error {
	if _, err := db.write.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = ?`, idHash); err != nil {
		return fmt.Errorf("sqlite session: %w", err)
	}
	return nil
}

// DeleteSessionsOf ends every session of a user or of a kiosk token.
func (db *DB) DeleteSessionsOf(ctx context.Context, user, token string) (int, error) {
	if user == "" && token == "" {
		return 0, nil
	}
	res, err := db.write.ExecContext(ctx, `DELETE FROM sessions WHERE (? <> '' AND username = ?) OR (? <> '' AND token = ?)`, user, user, token, token)
	if err != nil {
		return 0, fmt.Errorf("sqlite sessions: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// DeleteExpiredSessions removes the sessions past their absolute expiry
// at now, or last seen before idleBefore.
func (db *DB) DeleteExpiredSessions(ctx context.Context, now, idleBefore time.Time) (int, error) {
	res, err := db.write.ExecContext(ctx, `DELETE FROM sessions WHERE expires_ms <= ? OR last_seen_ms < ?`, ms(now), ms(idleBefore))
	if err != nil {
		return 0, fmt.Errorf("sqlite sessions: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

const tokenColumns = `id, kind, name, role, township, hash, created_ms, created_by, expires_ms, revoked_ms, last_used_ms`

// CreateToken keeps a new token; hub.ErrConflict when its id or hash is
// taken.
func (db *DB) CreateToken(ctx context.Context, t hub.APIToken) error {
	res, err := db.write.ExecContext(ctx, `INSERT INTO tokens (`+tokenColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		t.ID, t.Kind, t.Name, string(t.Role), t.Township, t.Hash, ms(t.Created), t.CreatedBy, ms(t.Expires), ms(t.Revoked), ms(t.LastUsed))
	if err != nil {
		return fmt.Errorf("sqlite token %s: %w", t.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("token %s exists: %w", t.ID, hub.ErrConflict)
	}
	return nil
}

func scanToken(row interface{ Scan(...any) error }) (*hub.APIToken, error) {
	var t hub.APIToken
	var role string
	var created, expires, revoked, used int64
	if err := row.Scan(&t.ID, &t.Kind, &t.Name, &role, &t.Township, &t.Hash, &created, &t.CreatedBy, &expires, &revoked, &used); err != nil {
		return nil, err
	}
	t.Role = hub.Role(role)
	t.Created, t.Expires, t.Revoked, t.LastUsed = fromMS(created), fromMS(expires), fromMS(revoked), fromMS(used)
	return &t, nil
}

func (db *DB) tokenWhere(ctx context.Context, where string, arg string) (*hub.APIToken, error) {
	t, err := scanToken(db.read.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE `+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite token: %w", err)
	}
	return t, nil
}

// Token is the token of id, nil when there is none.
func (db *DB) Token(ctx context.Context, id string) (*hub.APIToken, error) {
	return db.tokenWhere(ctx, "id = ?", id)
}

// TokenByHash is the token whose secret hashes to hash, nil when none.
func (db *DB) TokenByHash(ctx context.Context, hash string) (*hub.APIToken, error) {
	return db.tokenWhere(ctx, "hash = ?", hash)
}

// Tokens lists every token, newest first.
func (db *DB) Tokens(ctx context.Context) ([]hub.APIToken, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+tokenColumns+` FROM tokens ORDER BY created_ms DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite tokens: %w", err)
	}
	defer rows.Close()
	out := []hub.APIToken{}
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite tokens: %w", err)
		}
		out = append(out, *t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite tokens: %w", err)
	}
	return out, nil
}

// RevokeToken marks a token revoked at at, keeping the first revocation.
func (db *DB) RevokeToken(ctx context.Context, id string, at time.Time) error {
	res, err := db.write.ExecContext(ctx, `UPDATE tokens SET revoked_ms = CASE WHEN revoked_ms = 0 THEN ? ELSE revoked_ms END WHERE id = ?`, ms(at), id)
	if err != nil {
		return fmt.Errorf("sqlite token %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("token %s: %w", id, hub.ErrNotFound)
	}
	return nil
}

// TouchToken sets a token's LastUsed.
func (db *DB) TouchToken(ctx context.Context, id string, at time.Time) error {
	if _, err := db.write.ExecContext(ctx, `UPDATE tokens SET last_used_ms = ? WHERE id = ?`, ms(at), id); err != nil {
		return fmt.Errorf("sqlite token %s: %w", id, err)
	}
	return nil
}
