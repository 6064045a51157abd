// Package fleet is a load generator for the hub: it connects many
// simulated edge agents to one MQTT broker, each with its own client id,
// and has them speak the contract as the real agent does, at configurable
// rates. Tests and benchmarks use it for the county (322 sites: Demo-like
// layouts through FromSites) and for a province (10,000 edges and more:
// Province, with ProvinceSitesYAML for the hub's sites file).
//
// A simulated edge
//
//   - connects with its own paho client (clean session, as the agent's
//     uplink does), registering a retained "offline" Status as its last
//     will;
//   - on every connection subscribes to its commands (and, at a sorting
//     township, to its site's retained sort plan), then publishes a
//     retained "online" Status;
//   - publishes a Telemetry of each of its cold rooms every ReadingEvery,
//     with jitter, the temperature a random walk inside its class's limits;
//   - publishes a ParcelEvent now and then (exponential pauses of mean
//     ScanEvery): "sorted" with its route and bin at a township's station,
//     "arrived" and "picked_up" at a village point;
//   - answers the hub's commands (rules, sortplan, manifest, ping, status,
//     relight) with a Result, so that the hub's pushes to an edge coming
//     online complete as with real agents;
//   - on a clean stop publishes "offline" itself; Kill drops every
//     connection without a DISCONNECT, so the broker publishes the wills,
//     as after a power cut.
//
// Every message id is contract.MessageID of the edge's producer name (its
// edge id, or site-edge when the edge id is only unique within its site,
// like a village point's "vp"), the fleet's boot number and a sequence per
// edge, so ids are unique across edges and across runs.
//
// Clean session: the simulated edges use clean sessions, like the real
// agent (edge/uplink). The agent keeps its own durable queue and the hub
// sends an edge what it must hold each time it comes online, so a
// persistent session buys nothing; and with 10,000 clients a persistent
// session per client would make the broker keep 10,000 sessions, with
// their subscriptions and queues, long after the fleet has gone
// (Mosquitto's persistent_client_expiration is 30 days, the embedded
// broker keeps them in memory), skewing the memory measured in the next
// run. The cost, as for the agent: a message in flight when a connection
// drops is not resent by the session; the fleet counts it as a publish
// error.
package fleet
