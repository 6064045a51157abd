package pki

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// WriteKey writes a private key, readable by its owner only (0600).
func WriteKey(path string, keyPEM []byte) error { return WriteFile(path, keyPEM, 0o600) }

// WriteFile replaces path with data atomically (a temporary file renamed
// over it), so a broker or an agent reloading the file never reads half of
// it, and sets its mode to perm.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename there is nothing to remove
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// CheckKeyFile refuses a private key file others than its owner and group
// can read or write: on a box anyone can walk up to, a key readable by
// every local account is a key anyone can copy. Group access is allowed,
// so a service user (mosquitto) can read its key through its group.
func CheckKeyFile(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return fmt.Errorf("%s is a directory, not a key file", path)
	}
	if m := fi.Mode().Perm(); m&0o007 != 0 {
		return fmt.Errorf("%s: the private key is readable by every user (mode %04o); run chmod 600 %s (or 640 with the service's group)", path, m, path)
	}
	return checkWritable(path, fi.Mode().Perm())
}

// CheckSecretFile refuses a file holding a secret (a password, a token,
// a configuration with either inline) that every user of the machine can
// read, or that others than its owner can change.
func CheckSecretFile(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return fmt.Errorf("%s is a directory, not a file", path)
	}
	if m := fi.Mode().Perm(); m&0o004 != 0 {
		return fmt.Errorf("%s holds a secret and is readable by every user (mode %04o); run chmod 600 %s (or 640 with the service's group)", path, m, path)
	}
	return checkWritable(path, fi.Mode().Perm())
}

// checkWritable refuses a secret others than its owner can replace.
func checkWritable(path string, m os.FileMode) error {
	if m&0o022 != 0 {
		return fmt.Errorf("%s holds a secret and is writable by its group or every user (mode %04o); run chmod 600 %s (or 640 with the service's group)", path, m, path)
	}
	return nil
}

// ReadKeyFile reads a private key file after CheckKeyFile.
func ReadKeyFile(path string) ([]byte, error) {
	if err := CheckKeyFile(path); err != nil {
		return nil, err
	}
	return os.ReadFile(path)
}

// LoadCA reads a CA from its certificate and key files, refusing a key
// others can read.
func LoadCA(certFile, keyFile string) (*CA, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, err
	}
	keyPEM, err := ReadKeyFile(keyFile)
	if err != nil {
		return nil, err
	}
	ca, err := ParseCA(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s, %s: %w", certFile, keyFile, err)
	}
	return ca, nil
}

// stamp identifies the current content of files by their size and
// modification time, to notice a replaced file without reading it.
func stamp(files ...string) string {
	var b strings.Builder
	for _, f := range files {
		if f == "" {
			continue
		}
		fi, err := os.Stat(f)
		if err != nil {
			fmt.Fprintf(&b, "%s:missing;", f)
			continue
		}
		fmt.Fprintf(&b, "%s:%d:%d;", f, fi.Size(), fi.ModTime().UnixNano())
	}
	return b.String()
}
