// Package agent is the edge agent: it polls the configured field devices,
// turns their readings into contract messages, and sends them to the hub's
// broker through an outbox that holds them while the uplink is down. It
// publishes a retained status (with an "offline" last will) and answers
// commands from the hub.
package agent
