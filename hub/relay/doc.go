// Package relay keeps hub replicas' live pictures whole when they share the
// edges' messages through an MQTT shared subscription (mqtt.shared_group):
// the broker hands each message to one replica, so each replica's state,
// live stream and alarm engine would otherwise see only its share, and a
// wall screen on one replica would miss what another ingested.
//
// Each replica batches what it applied from its share (the latest reading
// of each device, the edges heard from, edge states, the parcel events it
// stored, the alarms acknowledged through its API) and publishes it, only
// when there is something, as one compact JSON message on its own hub-only
// topic, <prefix>/_hub/<replica>/live (contract.HubLiveTopic): an update
// after a quiet spell at once, those that follow at most every
// Config.Interval (250 ms), so a busy replica sends four messages a second
// however many edges it serves. An empty message every Config.Heartbeat
// (5 s) tells the others it is there. contract/README.md documents the
// payload. Every replica subscribes, unshared, to
// <prefix>/_hub/+/live, ignores its own messages and applies the others' to
// its state (so its dashboards' live stream carries them) and to its alarm
// engine (readings, edge states, acknowledgements). Relayed updates are
// never stored again (the replica that ingested them stored them) and never
// relayed again: they reach the state and the engine, not the relay's own
// hooks.
//
// The relay has no broker connection of its own: it rides on the hub's
// one, the ingest's, which subscribes Filter unshared with its own filters
// on every (re)connect (ingest.Config.Extra, messages to Receive; then
// Subscribed) and publishes the relay's messages (Publisher). A hub has
// one broker identity (_hub.<name>, a client certificate or a password
// login), and both brokers name a session by it (Mosquitto's
// use_username_as_clientid, the embedded broker's secure mode): a second
// connection under it would take over the ingest's session, and the two
// would keep throwing each other off.
//
// Messages go at QoS 1, not retained: parcel counts and acknowledgements,
// unlike a latest reading, are not made whole by the next message. The
// ingest's session is persistent, but a replica that was away restores its
// picture from the stores, and a backlog of relay messages replayed on top
// of that would count the same parcels twice: the ingest drops the relay's
// subscription at a clean stop, and a message sent before this replica
// started (kept for it after a crash) is dropped as a duplicate. Each
// message carries the sender's start time and a sequence, so a message the
// broker sends again is applied once and a lost one is counted.
//
// A replica that stops tells the others (Leaving) and, when another is
// still there, lets the ingest drop its shared subscriptions before it
// disconnects (HandOver): Mosquitto keeps a disconnected persistent
// session's turn in the group and queues its share for it, so without that
// the others would miss that share until the replica came back. The last
// replica keeps its subscriptions, so its share waits for it rather than
// being dropped by the broker for want of a subscriber. The ingest then
// stores what it accepted and, still connected, has the relay send its
// last message (Leave: what is pending, parcel events just stored
// included) before it disconnects.
package relay
