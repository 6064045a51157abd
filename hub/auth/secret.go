package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// TokenPrefix starts every API and kiosk token, so that secret scanners
// and people recognise one.
const TokenPrefix = "clk_"

// secretLen is the random bytes of a session id or a token: 256 bits.
const secretLen = 32

// newSecret is secretLen random bytes, base64url without padding.
func newSecret() (string, error) {
	b := make([]byte, secretLen)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random secret: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// newID is a short random id for lists and the audit log: prefix and 12
// hex digits.
func newID(prefix string) (string, error) {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random id: %w", err)
	}
	return prefix + hex.EncodeToString(b), nil
}

// HashSecret is what the store keeps of a session id or a token: its
// SHA-256 in hex. The secrets are 256 random bits, so a fast hash is
// enough: nothing is left to guess.
func HashSecret(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// csrfFor is the CSRF token of a session id: another hash of it, under a
// label, so neither gives the other nor the store's key.
func csrfFor(sessionID string) string {
	sum := sha256.Sum256([]byte("countylink csrf\x00" + sessionID))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// wellFormed reports whether s looks like a secret of this package (a
// token with or without its prefix, or a session id): 43 base64url
// characters. Anything else is refused before the store is asked.
func wellFormed(s string) bool {
	s = strings.TrimPrefix(s, TokenPrefix)
	if len(s) != base64.RawURLEncoding.EncodedLen(secretLen) {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil
}
