package provision

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/countylink/countylink/contract"
)

// DefaultDir is the hub's PKI directory.
const DefaultDir = "/etc/countylink/pki"

const usage = `usage: hub provision COMMAND [flags]

  init    create the county CA and the broker's certificate in -dir
  edge    give an edge its identity: writes edge.yaml, its key and certificate
          (and/or a password) into -out, and updates the ACL and password file
  hub     give a hub its identity (certificate, key and password) in -out
  revoke  revoke an edge (-site, -edge) or a hub (-hub): its certificates go on
          the revocation list, its ACL entry and password are removed
  list    the identities provisioned, their certificates and state

Each command takes -dir (default /etc/countylink/pki); "hub provision COMMAND -h"
lists its flags.
`

// Main runs "hub provision" with args (after "provision") and returns the
// exit code: 0, 1 on failure, 2 on bad usage.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "help" || args[0] == "--help" {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, args := args[0], args[1:]
	fs := flag.NewFlagSet("hub provision "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", DefaultDir, "the PKI directory: CA, broker certificate, registry, ACL, password file, CRL")
	now := time.Now()
	var run func() error
	switch cmd {
	case "init":
		name := fs.String("ca-name", "CountyLink CA", "the CA's name, e.g. \"CountyLink Example County CA\"")
		hosts := fs.String("broker-host", "", "comma-separated DNS names and addresses of the broker, as edges reach it (the first is the one they are given)")
		port := fs.Int("port", 8883, "the broker's TLS port")
		prefix := fs.String("prefix", contract.DefaultPrefix, "the MQTT topic prefix")
		run = func() error {
			r, err := Init(*dir, InitOptions{CAName: *name, BrokerHosts: splitList(*hosts), BrokerPort: *port, Prefix: *prefix}, now)
			if err != nil {
				return err
			}
			if err := r.Save(now); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "CA %q and broker certificate for %s written to %s.\n", *name, strings.Join(splitList(*hosts), ", "), *dir)
			fmt.Fprintf(stdout, "Keep %s on this machine only; back it up offline. Edges will connect to %s.\n", filepath.Join(*dir, CAKey), r.BrokerURL())
			fmt.Fprintf(stdout, "Next: hub provision hub -dir %s; hub provision edge -dir %s -site SITE -edge EDGE -out DIR.\n", *dir, *dir)
			return nil
		}
	case "edge", "hub":
		site := fs.String("site", "", "the edge's site id (edge)")
		edge := fs.String("edge", "", "the edge's id, unique in the county (edge)")
		name := fs.String("name", "hub", "the hub's name (hub)")
		out := fs.String("out", "", "directory to write the credentials to (edge: required; hub: default DIR/hub-NAME)")
		auth := fs.String("auth", "", "cert, password or both (edge default cert; hub default both)")
		renew := fs.Bool("renew", false, "issue new credentials to an identity that has some (the old certificate stays valid until it expires or is revoked)")
		days := fs.Int("days", 0, "certificate validity in days (default 3 years)")
		installDir := fs.String("install-dir", "/etc/countylink", "where the edge's files will be on the box (edge.yaml names them there)")
		broker := fs.String("broker", "", "broker URL the edge is given (default from init: ssl://HOST:8883)")
		stateDir := fs.String("state-dir", "/var/lib/countylink-edge", "the edge's state_dir in edge.yaml")
		run = func() error {
			r, err := Open(*dir)
			if err != nil {
				return err
			}
			id := contract.HubIdentity(*name)
			if cmd == "edge" {
				if *site == "" || *edge == "" || *out == "" {
					return errUsage("edge needs -site, -edge and -out")
				}
				id = contract.EdgeIdentity(*site, *edge)
			} else if *out == "" {
				*out = filepath.Join(*dir, "hub-"+*name)
			}
			o := IssueOptions{Renew: *renew, Validity: time.Duration(*days) * 24 * time.Hour}
			switch *auth {
			case "":
				o.Cert, o.Password = true, cmd == "hub"
			case "cert":
				o.Cert = true
			case "password":
				o.Password = true
			case "both":
				o.Cert, o.Password = true, true
			default:
				return errUsage("-auth must be cert, password or both")
			}
			c, err := r.Issue(id, o, now)
			if err != nil {
				return err
			}
			if cmd == "edge" {
				err = r.WriteEdge(*out, c, EdgeBundle{InstallDir: *installDir, BrokerURL: *broker, StateDir: *stateDir}, now)
			} else {
				err = r.WriteHub(*out, c)
			}
			if err != nil {
				return err
			}
			if err := r.Save(now); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s provisioned: credentials in %s", id, *out)
			if c.CertPEM != nil {
				fmt.Fprintf(stdout, " (certificate valid to %s)", c.Expires.Format(time.DateOnly))
			}
			fmt.Fprintln(stdout, ".")
			if cmd == "hub" {
				fmt.Fprintf(stdout, "In hub.yaml: mqtt.username %s with mqtt.password_file %s on the local listener,\nor mqtt.tls {ca_file, cert_file, key_file} on the TLS listener.\n",
					id, filepath.Join(*out, PasswordFile))
			}
			printApply(stdout, *dir, false)
			return nil
		}
	case "revoke":
		site := fs.String("site", "", "the edge's site id")
		edge := fs.String("edge", "", "the edge's id")
		hub := fs.String("hub", "", "a hub's name, instead of -site and -edge")
		run = func() error {
			r, err := Open(*dir)
			if err != nil {
				return err
			}
			var id contract.Identity
			switch {
			case *hub != "" && *site == "" && *edge == "":
				id = contract.HubIdentity(*hub)
			case *hub == "" && *site != "" && *edge != "":
				id = contract.EdgeIdentity(*site, *edge)
			default:
				return errUsage("revoke needs -site and -edge, or -hub")
			}
			if err := r.Revoke(id, now); err != nil {
				return err
			}
			if err := r.Save(now); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s revoked: its certificates are on %s, its ACL entry and password removed.\n", id, filepath.Join(*dir, CRLFile))
			printApply(stdout, *dir, true)
			return nil
		}
	case "list":
		run = func() error {
			r, err := Open(*dir)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "IDENTITY\tKIND\tSTATE\tAUTH\tCERTIFICATE\tEXPIRES")
			for _, e := range r.Entries() {
				state := "active"
				if !e.Active() {
					state = "revoked " + e.Revoked.Format(time.DateOnly)
				}
				var auths []string
				serial, expires := "-", "-"
				for _, c := range e.Certs {
					if c.Revoked == nil && c.Expires.After(now) {
						serial, expires = c.Serial, c.Expires.Format(time.DateOnly)
					}
				}
				if serial != "-" {
					auths = append(auths, "cert")
				}
				if e.PasswordHash != "" {
					auths = append(auths, "password")
				}
				if len(auths) == 0 {
					auths = append(auths, "-")
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Identity, e.Kind, state, strings.Join(auths, "+"), serial, expires)
			}
			return w.Flush()
		}
	default:
		fmt.Fprintf(stderr, "hub provision: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "hub provision %s: unexpected %q\n", cmd, fs.Arg(0))
		return 2
	}
	if err := run(); err != nil {
		fmt.Fprintf(stderr, "hub provision %s: %v\n", cmd, err)
		var u errUsage
		if errors.As(err, &u) {
			return 2
		}
		return 1
	}
	return 0
}

type errUsage string

func (e errUsage) Error() string { return string(e) }

// printApply says how the brokers take the new files.
func printApply(w io.Writer, dir string, revoked bool) {
	fmt.Fprintf(w, "Updated %s, %s and %s in %s.\n", ACLFile, PasswdFile, CRLFile, dir)
	fmt.Fprintln(w, "Mosquitto: systemctl reload mosquitto applies the ACL and the passwords at once.")
	if revoked {
		fmt.Fprintln(w, "  A revoked edge still connected can then neither publish nor subscribe, and a")
		fmt.Fprintln(w, "  password login is closed. Mosquitto 2.0 reads crl.pem only when it starts:")
		fmt.Fprintln(w, "  systemctl restart mosquitto so that the revoked certificate cannot connect either.")
	}
	fmt.Fprintln(w, "Embedded broker: the hub re-reads these files within 10 seconds by itself.")
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
