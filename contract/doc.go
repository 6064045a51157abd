// Package contract is the MQTT contract between edge agents, the firmware
// bridge and the hub: topic builders and parsers, payload types, their JSON
// encoding and validation, the schema version and the size limit.
//
// Every producer and consumer imports this package and nothing imports a
// producer or consumer from here: it depends on the standard library only.
// README.md beside this file describes the contract in prose for third
// parties who publish with mosquitto_pub or write their own device firmware.
//
// The rules it encodes:
//
//   - Topics carry the site and the edge: <prefix>/<site>/<edge>/<kind>[/<name>],
//     so a broker ACL can confine an edge to its own subtree, and a payload
//     whose site or edge disagrees with its topic is rejected.
//   - Every message has an id unique for its producer (edge id, boot number
//     and a per-boot sequence), so at-least-once delivery can be stored
//     exactly once by de-duplication.
//   - Timestamps come from the edge: ts is when a value was read, sent is
//     when the message left the edge. The hub keeps its receive time beside
//     them to detect and correct clock skew.
//   - Status is retained with an "offline" last will. The hub keeps each
//     site's sort plan retained on <prefix>/<site>/_site/plan (PlanTopic),
//     the one topic on the reserved edge level SiteEdge.
//   - Payloads are JSON objects with a version field "v" and at most
//     MaxPayloadBytes bytes.
package contract
