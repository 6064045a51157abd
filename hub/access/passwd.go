package access

import (
	"bufio"
	"bytes"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Mosquitto's password file: one "user:hash" line per user, as
// mosquitto_passwd writes it. Mosquitto 2.0 writes "$7$" hashes
// (PBKDF2-SHA512, 101 iterations, a 12-byte salt, base64); it also reads
// the older "$6$" ones (SHA-512 of the password and the salt). Both are
// read here; new ones are written as $7$.
const (
	passwdIterations = 101
	passwdSaltLen    = 12
	passwdKeyLen     = sha512.Size
)

// HashPassword hashes password as mosquitto_passwd does: the part after
// "user:" of a password file line.
func HashPassword(password string) (string, error) {
	salt := make([]byte, passwdSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key, err := pbkdf2.Key(sha512.New, password, salt, passwdIterations, passwdKeyLen)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("$7$%d$%s$%s", passwdIterations, base64.StdEncoding.EncodeToString(salt), base64.StdEncoding.EncodeToString(key)), nil
}

// CheckPassword reports whether password matches hash, a "$7$" or "$6$"
// hash from a Mosquitto password file, in constant time for a given hash.
func CheckPassword(hash, password string) bool {
	parts := strings.Split(hash, "$")
	// "$7$101$salt$key" splits into "", "7", "101", salt, key;
	// "$6$salt$key" into "", "6", salt, key.
	var salt, want []byte
	var got []byte
	var err error
	switch {
	case len(parts) == 5 && parts[0] == "" && parts[1] == "7":
		iter, e := strconv.Atoi(parts[2])
		if e != nil || iter < 1 || iter > 1_000_000 {
			return false
		}
		if salt, err = base64.StdEncoding.DecodeString(parts[3]); err != nil {
			return false
		}
		if want, err = base64.StdEncoding.DecodeString(parts[4]); err != nil || len(want) != passwdKeyLen {
			return false
		}
		if got, err = pbkdf2.Key(sha512.New, password, salt, iter, passwdKeyLen); err != nil {
			return false
		}
	case len(parts) == 4 && parts[0] == "" && parts[1] == "6":
		if salt, err = base64.StdEncoding.DecodeString(parts[2]); err != nil {
			return false
		}
		if want, err = base64.StdEncoding.DecodeString(parts[3]); err != nil {
			return false
		}
		h := sha512.New()
		h.Write([]byte(password))
		h.Write(salt)
		got = h.Sum(nil)
	default:
		return false
	}
	return subtle.ConstantTimeCompare(got, want) == 1
}

// Passwords is a password file: user name to hash.
type Passwords map[string]string

// ParsePasswords reads a Mosquitto password file. Blank lines and lines
// starting with # are skipped; a line without a colon, or a user named
// twice, is an error naming its line.
func ParsePasswords(data []byte) (Passwords, error) {
	p := Passwords{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		user, hash, ok := strings.Cut(line, ":")
		if !ok || user == "" || hash == "" {
			return nil, fmt.Errorf("password file line %d: not user:hash", n)
		}
		if _, dup := p[user]; dup {
			return nil, fmt.Errorf("password file line %d: user %q again", n, user)
		}
		p[user] = hash
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return p, nil
}

// Check reports whether user is in the file with password.
func (p Passwords) Check(user, password string) bool {
	hash, ok := p[user]
	if !ok {
		// Spend the time a known user would, so a guess does not learn
		// which user names exist from the answer's delay.
		CheckPassword(dummyHash, password)
		return false
	}
	return CheckPassword(hash, password)
}

var dummyHash = func() string {
	h, err := HashPassword("countylink-no-such-user")
	if err != nil {
		panic(err)
	}
	return h
}()

// Render writes the file, one line per user sorted by name.
func (p Passwords) Render() []byte {
	users := make([]string, 0, len(p))
	for u := range p {
		users = append(users, u)
	}
	sort.Strings(users)
	var b bytes.Buffer
	for _, u := range users {
		fmt.Fprintf(&b, "%s:%s\n", u, p[u])
	}
	return b.Bytes()
}

// ErrBadUser is a user name a password file cannot hold.
var ErrBadUser = errors.New("access: a password file user name cannot be empty or hold a colon or a line break")

// Set hashes password for user, replacing any previous one.
func (p Passwords) Set(user, password string) error {
	if user == "" || strings.ContainsAny(user, ":\r\n") {
		return ErrBadUser
	}
	h, err := HashPassword(password)
	if err != nil {
		return err
	}
	p[user] = h
	return nil
}
