package hub

import (
	"context"
	"slices"
	"time"
)

// Role is what a person or an integration may do at the hub. The roles
// go from the least to the most allowed; hub/httpapi's route rules say
// which roles may call each route.
type Role string

// The roles.
const (
	// RoleViewer reads what the wall screen shows (sites, cold rooms,
	// active alarms, the dispatch board, the day's figures) and nothing
	// else: a wall screen's kiosk token has this role.
	RoleViewer Role = "viewer"
	// RoleStaff is a township station's staff: scans and loads, and
	// reads the parcels and runs of their township.
	RoleStaff Role = "staff"
	// RoleTownship is a township coordinator: runs, sort plans, manifests
	// and alarms of their township.
	RoleTownship Role = "township_coordinator"
	// RoleCounty is a county coordinator: everything of every township,
	// commands to the edges and the sites.
	RoleCounty Role = "county_coordinator"
	// RoleAdmin is everything RoleCounty is, and the accounts and tokens.
	RoleAdmin Role = "admin"
)

// Roles lists the roles, least allowed first.
var Roles = []Role{RoleViewer, RoleStaff, RoleTownship, RoleCounty, RoleAdmin}

// Valid reports whether r is one of Roles.
func (r Role) Valid() bool { return slices.Contains(Roles, r) }

// Scoped reports whether a holder of r must act for one township:
// station staff and township coordinators. A viewer may (a township's
// own wall screen) or may not; county coordinators and admins never do.
func (r Role) Scoped() bool { return r == RoleStaff || r == RoleTownship }

// County reports whether r works across the whole county: a county
// coordinator or an admin.
func (r Role) County() bool { return r == RoleCounty || r == RoleAdmin }

// User is a person's account. Name is what they log in with and what the
// audit log records of them.
type User struct {
	Name         string    `json:"name"`
	DisplayName  string    `json:"display_name"` // shown on the pages; may be empty
	Role         Role      `json:"role"`
	Township     string    `json:"township"`            // the township they act for, "" for the county
	PasswordHash string    `json:"-"`                   // PHC string of hub/auth's argon2id
	Disabled     bool      `json:"disabled"`            // refuses logins; its sessions are ended
	Created      time.Time `json:"created"`             // when the account was made
	Updated      time.Time `json:"updated"`             // its last change
	CreatedBy    string    `json:"created_by"`          // who made it ("hub" for the demo or the CLI)
	PasswordSet  time.Time `json:"password_set"`        // when its password was last set
	LastLogin    time.Time `json:"last_login,omitzero"` // zero when never
}

// Session is a browser's login: its id lives only in the browser's
// cookie; the store keeps its SHA-256 (IDHash), so reading the store
// gives no usable session. A session is of a user, or of a kiosk token
// (a wall screen) when Token is set.
type Session struct {
	IDHash   string // hex SHA-256 of the cookie's id
	User     string // the user's name; "" for a kiosk session
	Token    string // the kiosk token's id for a kiosk session; "" otherwise
	Created  time.Time
	LastSeen time.Time // for the idle expiry, updated at most once a minute
	Expires  time.Time // the absolute expiry
}

// Token kinds.
const (
	TokenAPI   = "api"   // an integration's bearer token (manifest import, the demo's bots)
	TokenKiosk = "kiosk" // a wall screen's: exchanged for a read-only session
)

// APIToken is a long random secret given to an integration (Kind
// TokenAPI, sent as a bearer token) or bound to a named wall screen (Kind
// TokenKiosk, exchanged for a session). The store keeps its SHA-256
// (Hash), never the secret; ID names it in lists and audit entries.
type APIToken struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	Name      string    `json:"name"` // the integration's name, or the screen's
	Role      Role      `json:"role"`
	Township  string    `json:"township"`
	Hash      string    `json:"-"`
	Created   time.Time `json:"created"`
	CreatedBy string    `json:"created_by"`
	Expires   time.Time `json:"expires,omitzero"`   // zero: until revoked
	Revoked   time.Time `json:"revoked,omitzero"`   // zero: not revoked
	LastUsed  time.Time `json:"last_used,omitzero"` // updated at most every few minutes
}

// Active reports whether the token is valid at now: not revoked, not
// expired.
func (t *APIToken) Active(now time.Time) bool {
	return t.Revoked.IsZero() && (t.Expires.IsZero() || now.Before(t.Expires))
}

// AccountStore keeps the people's accounts, their sessions and the API
// and kiosk tokens. Both stores (SQLite, PostgreSQL) implement it and
// pass hub/storetest's Accounts tests.
type AccountStore interface {
	// CreateUser adds an account; ErrConflict when the name is taken.
	CreateUser(ctx context.Context, u User) error
	// User is the account of name, nil when there is none.
	User(ctx context.Context, name string) (*User, error)
	// Users lists the accounts by name.
	Users(ctx context.Context) ([]User, error)
	// UpdateUser replaces an account's record; ErrNotFound when none.
	UpdateUser(ctx context.Context, u User) error

	// CreateSession keeps a new session.
	CreateSession(ctx context.Context, s Session) error
	// Session is the session of idHash, nil when there is none.
	Session(ctx context.Context, idHash string) (*Session, error)
	// TouchSession sets a session's LastSeen.
	TouchSession(ctx context.Context, idHash string, at time.Time) error
	// DeleteSession ends one session (logout); no error when none.
	DeleteSession(ctx context.Context, idHash string) error
	// DeleteSessionsOf ends every session of a user (user != "") or of a
	// kiosk token (token != ""), and answers how many.
	DeleteSessionsOf(ctx context.Context, user, token string) (int, error)
	// DeleteExpiredSessions removes the sessions whose absolute expiry
	// is before now, or last seen before idleBefore.
	DeleteExpiredSessions(ctx context.Context, now, idleBefore time.Time) (int, error)

	// CreateToken keeps a new token; ErrConflict when its id or hash is
	// taken.
	CreateToken(ctx context.Context, t APIToken) error
	// Token is the token of id, nil when there is none.
	Token(ctx context.Context, id string) (*APIToken, error)
	// TokenByHash is the token whose secret hashes to hash, nil when none.
	TokenByHash(ctx context.Context, hash string) (*APIToken, error)
	// Tokens lists every token, revoked ones too, newest first.
	Tokens(ctx context.Context) ([]APIToken, error)
	// RevokeToken marks a token revoked at at; ErrNotFound when none,
	// nothing when it is already.
	RevokeToken(ctx context.Context, id string, at time.Time) error
	// TouchToken sets a token's LastUsed.
	TouchToken(ctx context.Context, id string, at time.Time) error
}
