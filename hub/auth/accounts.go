package auth

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/countylink/countylink/hub"
)

// MaxNameLen is the longest user, token or screen name, in bytes.
const MaxNameLen = 64

// ValidName reports whether v may name a person, a token or a screen: 1
// to MaxNameLen bytes of UTF-8, each character printable ASCII other than
// space, a letter or mark of any script (王芳), or the middle dot of
// transcribed names (阿依古丽·买买提).
func ValidName(v string) bool {
	if v == "" || len(v) > MaxNameLen || !utf8.ValidString(v) {
		return false
	}
	for _, r := range v {
		if (r < 0x21 || r > 0x7e) && !unicode.IsLetter(r) && !unicode.IsMark(r) && r != '·' {
			return false
		}
	}
	return true
}

// CheckScope checks a role and its township: station staff and township
// coordinators need one, county coordinators and admins have none, a
// viewer may have one. That the township exists is the caller's to check.
func CheckScope(role hub.Role, township string) error {
	switch {
	case !role.Valid():
		return fmt.Errorf("%w: role %q must be one of viewer, staff, township_coordinator, county_coordinator, admin", ErrInvalid, role)
	case role.Scoped() && township == "":
		return fmt.Errorf("%w: a %s acts for one township: give its id", ErrInvalid, role)
	case role.County() && township != "":
		return fmt.Errorf("%w: a %s acts for the whole county: give no township", ErrInvalid, role)
	}
	return nil
}

// CreateUser makes an account with a password, made by by.
func (s *Service) CreateUser(ctx context.Context, u hub.User, password, by string) (*hub.User, error) {
	if !ValidName(u.Name) {
		return nil, fmt.Errorf("%w: name %q must be 1 to %d bytes of letters or printable ASCII without spaces", ErrInvalid, u.Name, MaxNameLen)
	}
	if len(u.DisplayName) > 200 || !utf8.ValidString(u.DisplayName) || strings.IndexFunc(u.DisplayName, unicode.IsControl) >= 0 {
		return nil, fmt.Errorf("%w: display_name must be at most 200 bytes of text", ErrInvalid)
	}
	if err := CheckScope(u.Role, u.Township); err != nil {
		return nil, err
	}
	h, err := HashPassword(password, s.Params)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	now := s.now()
	u.PasswordHash, u.Created, u.Updated, u.PasswordSet, u.CreatedBy, u.LastLogin = h, now, now, now, by, time.Time{}
	if err := s.Store.CreateUser(ctx, u); err != nil {
		return nil, err
	}
	s.Log.Info("account created", "account", u.Name, "role", u.Role, "township", u.Township, "by", by)
	return &u, nil
}

// UserChange is what UpdateUser changes: the fields that are not nil.
type UserChange struct {
	DisplayName *string   `json:"display_name"`
	Role        *hub.Role `json:"role"`
	Township    *string   `json:"township"`
	Disabled    *bool     `json:"disabled"`
	Password    *string   `json:"password"`
}

// UpdateUser changes an account; hub.ErrNotFound when there is none.
// Its sessions end when it is disabled, its role or township changes or
// its password is set: what they were allowed no longer holds.
func (s *Service) UpdateUser(ctx context.Context, name string, ch UserChange, by string) (*hub.User, error) {
	u, err := s.Store.User(ctx, name)
	if err != nil {
		return nil, err
	}
	if u == nil {
		return nil, fmt.Errorf("no user %s: %w", name, hub.ErrNotFound)
	}
	endSessions := false
	if ch.DisplayName != nil {
		if len(*ch.DisplayName) > 200 || !utf8.ValidString(*ch.DisplayName) || strings.IndexFunc(*ch.DisplayName, unicode.IsControl) >= 0 {
			return nil, fmt.Errorf("%w: display_name must be at most 200 bytes of text", ErrInvalid)
		}
		u.DisplayName = *ch.DisplayName
	}
	if ch.Role != nil && *ch.Role != u.Role {
		u.Role, endSessions = *ch.Role, true
	}
	if ch.Township != nil && *ch.Township != u.Township {
		u.Township, endSessions = *ch.Township, true
	}
	if err := CheckScope(u.Role, u.Township); err != nil {
		return nil, err
	}
	if ch.Disabled != nil && *ch.Disabled != u.Disabled {
		u.Disabled = *ch.Disabled
		endSessions = endSessions || u.Disabled
	}
	now := s.now()
	if ch.Password != nil {
		h, err := HashPassword(*ch.Password, s.Params)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		u.PasswordHash, u.PasswordSet, endSessions = h, now, true
	}
	u.Updated = now
	if err := s.Store.UpdateUser(ctx, *u); err != nil {
		return nil, err
	}
	if endSessions {
		n, err := s.Store.DeleteSessionsOf(ctx, u.Name, "")
		if err != nil {
			return nil, err
		}
		s.Log.Info("account changed; its sessions ended", "account", u.Name, "role", u.Role, "township", u.Township,
			"disabled", u.Disabled, "sessions", n, "by", by)
	}
	return u, nil
}

// StartSession starts a session of an account without a password (after
// its user changed their own password, or for a test): the Principal
// and the session's id.
func (s *Service) StartSession(ctx context.Context, name string) (*Principal, string, error) {
	u, err := s.Store.User(ctx, name)
	if err != nil {
		return nil, "", err
	}
	if u == nil || u.Disabled {
		return nil, "", fmt.Errorf("no active user %s: %w", name, hub.ErrNotFound)
	}
	id, se, err := s.newSession(ctx, s.now())
	if err != nil {
		return nil, "", err
	}
	se.User = u.Name
	if err := s.Store.CreateSession(ctx, se); err != nil {
		return nil, "", err
	}
	return &Principal{Name: u.Name, User: u.Name, DisplayName: u.DisplayName, Role: u.Role, Township: u.Township, Via: ViaSession,
		Expires: se.Expires, sessionHash: se.IDHash, csrf: csrfFor(id)}, id, nil
}

// IssueToken makes an API token (kind hub.TokenAPI) or a wall screen's
// kiosk token (hub.TokenKiosk, always of role viewer), named name, for
// township ("" for the county), until expires (zero: until revoked).
// It answers the secret, shown once and kept nowhere, and the record.
func (s *Service) IssueToken(ctx context.Context, kind, name string, role hub.Role, township string, expires time.Time, by string) (string, *hub.APIToken, error) {
	switch kind {
	case hub.TokenAPI:
	case hub.TokenKiosk:
		if role != hub.RoleViewer {
			return "", nil, fmt.Errorf("%w: a kiosk token is a wall screen's: its role is viewer", ErrInvalid)
		}
	default:
		return "", nil, fmt.Errorf("%w: kind %q must be api or kiosk", ErrInvalid, kind)
	}
	if !ValidName(name) {
		return "", nil, fmt.Errorf("%w: name %q must be 1 to %d bytes of letters or printable ASCII without spaces", ErrInvalid, name, MaxNameLen)
	}
	if err := CheckScope(role, township); err != nil {
		return "", nil, err
	}
	now := s.now()
	if !expires.IsZero() && !expires.After(now) {
		return "", nil, fmt.Errorf("%w: expires %s is not in the future", ErrInvalid, expires.Format(time.RFC3339))
	}
	secret, err := newSecret()
	if err != nil {
		return "", nil, err
	}
	secret = TokenPrefix + secret
	id, err := newID("tok-")
	if err != nil {
		return "", nil, err
	}
	t := hub.APIToken{ID: id, Kind: kind, Name: name, Role: role, Township: township, Hash: HashSecret(secret),
		Created: now, CreatedBy: by, Expires: expires}
	if err := s.Store.CreateToken(ctx, t); err != nil {
		return "", nil, err
	}
	s.Log.Info("token issued", "token", id, "kind", kind, "name", name, "role", role, "township", township, "by", by)
	return secret, &t, nil
}

// RevokeToken revokes a token and ends the sessions made with it (a
// kiosk token's); hub.ErrNotFound when there is none.
func (s *Service) RevokeToken(ctx context.Context, id, by string) (*hub.APIToken, error) {
	if err := s.Store.RevokeToken(ctx, id, s.now()); err != nil {
		return nil, err
	}
	n, err := s.Store.DeleteSessionsOf(ctx, "", id)
	if err != nil {
		return nil, err
	}
	t, err := s.Store.Token(ctx, id)
	if err != nil {
		return nil, err
	}
	s.Log.Info("token revoked", "token", id, "sessions", n, "by", by)
	return t, nil
}
