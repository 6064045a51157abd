package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id's cost parameters.
type Params struct {
	Time      uint32 // passes over the memory
	MemoryKiB uint32
	Threads   uint8
	SaltLen   uint32
	KeyLen    uint32
}

// DefaultParams are the parameters of new hashes: 64 MiB, two passes, two
// lanes (see the package doc).
var DefaultParams = Params{Time: 2, MemoryKiB: 64 * 1024, Threads: 2, SaltLen: 16, KeyLen: 32}

// Password length limits, in bytes of UTF-8.
const (
	MinPasswordLen = 10
	MaxPasswordLen = 256
)

// Errors of passwords.
var (
	ErrWeakPassword = errors.New("a password must be 10 to 256 bytes of UTF-8")
	errBadHash      = errors.New("not an argon2id hash this hub reads")
)

// hashSlots bounds the hashes computed at once: each takes
// Params.MemoryKiB of memory.
var hashSlots = make(chan struct{}, 2)

// CheckPasswordRules reports whether pw may be a password.
func CheckPasswordRules(pw string) error {
	if len(pw) < MinPasswordLen || len(pw) > MaxPasswordLen || !utf8.ValidString(pw) {
		return ErrWeakPassword
	}
	return nil
}

// HashPassword hashes pw with p into a PHC string.
func HashPassword(pw string, p Params) (string, error) {
	if err := CheckPasswordRules(pw); err != nil {
		return "", err
	}
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	key := derive(pw, salt, p)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

func derive(pw string, salt []byte, p Params) []byte {
	hashSlots <- struct{}{}
	defer func() { <-hashSlots }()
	return argon2.IDKey([]byte(pw), salt, p.Time, p.MemoryKiB, p.Threads, p.KeyLen)
}

// VerifyPassword reports whether pw is the password of the PHC string
// hash, comparing in constant time. An error means the hash is not one
// this hub reads.
func VerifyPassword(hash, pw string) (bool, error) {
	p, salt, key, err := parseHash(hash)
	if err != nil {
		return false, err
	}
	if len(pw) > MaxPasswordLen {
		pw = pw[:MaxPasswordLen] // no password this long is stored: the key differs
	}
	got := derive(pw, salt, p)
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

// parseHash reads a PHC string of argon2id within sane bounds, so a
// tampered record cannot make the hub allocate gigabytes.
func parseHash(hash string) (Params, []byte, []byte, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return Params{}, nil, nil, errBadHash
	}
	var p Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Time, &p.Threads); err != nil {
		return Params{}, nil, nil, errBadHash
	}
	if p.MemoryKiB < 8 || p.MemoryKiB > 1<<20 || p.Time < 1 || p.Time > 64 || p.Threads < 1 || p.Threads > 16 {
		return Params{}, nil, nil, errBadHash
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	key, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(key) < 16 || len(key) > 64 {
		return Params{}, nil, nil, errBadHash
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	return p, salt, key, nil
}
