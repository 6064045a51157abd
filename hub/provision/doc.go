// Package provision is "hub provision": it gives every edge and hub its
// own broker identity and keeps the files the brokers enforce them with.
//
// One directory (/etc/countylink/pki, on the hub only) holds the county's
// CA (ca.crt, ca.key 0600), the broker's server certificate (broker.crt,
// broker.key), the registry of identities provisioned (registry.json) and
// what is derived from it at every change: Mosquitto's acl_file (acl,
// from the table in hub/access), its password_file (passwd, $7$ hashes)
// and the revocation list (crl.pem). Mosquitto reads them from there
// (deploy/mosquitto/mosquitto.conf), and so does the hub's embedded broker.
//
//	hub provision init   -broker-host hub.county.lan,10.0.0.5
//	hub provision hub    -name hub
//	hub provision edge   -site tw01 -edge tw01-e1 -out /tmp/tw01-e1
//	hub provision revoke -site tw01 -edge tw01-e1
//	hub provision list
//
// An edge is given a directory to copy to its box: edge.yaml with the
// broker's TLS address and the files' paths, the CA certificate, its own
// key (0600) and certificate whose common name is its identity
// (tw01.tw01-e1), and with -auth password a generated password for
// brokers that cannot check client certificates. The key and the password
// are not kept on the hub: a lost box is revoked and a new one
// provisioned (or -renew for new credentials to the same box).
//
// Revocation puts the identity's certificates on the CRL and removes its
// ACL block and password, so that after "systemctl reload mosquitto" the
// edge, even still connected, can no longer publish or subscribe, while
// the others are untouched.
package provision
