// Package alarm raises, updates and clears the cold-chain alarms of the
// county's cold rooms and edge boxes, and keeps them until they clear: the
// alarms coordinators acknowledge on the dashboard.
//
// The hub feeds an Engine every stored reading (Reading), every edge status
// change (EdgeStatus) and a periodic Tick, and sets the room rules
// (SetRules) from its configuration. Each room's rule is evaluated by
// contract.RoomState, the same code the edge runs to drive its stack light
// with the uplink down. The Engine turns the evaluator's conditions into
// Alarms with a lifecycle, and hands every transition to a Sink as an
// Event, in order: the hub stores them (the audit trail), publishes them to
// the dashboard and notifies people of those that ask for it
// (Event.Notify).
//
// The lifecycle follows the OPC UA alarm model, simplified:
//
//	raised ──▶ active ──ack──▶ acknowledged ──▶ cleared
//	              ▲                 │
//	              └──── re-alarm ───┘
//
// There is one alarm per room and kind (per edge for edge_offline) at a
// time: a condition that persists updates its alarm, a re-alarm counts and
// notifies again, and only a cleared alarm makes room for a new one with a
// new id. A re-alarm of an acknowledged alarm makes it active again: the
// problem outlived the acknowledgement.
//
// # Time
//
// Readings are evaluated at their own time, so delays count what happened
// at the room even when the readings arrive late: an edge that was offline
// for an hour sends its queue on reconnection, and an excursion during the
// outage raises (and perhaps clears) an alarm at the time it happened,
// which is the time its events carry. Tick evaluates the timers that run
// without readings (door open, no data, re-alarm) at the wall clock,
// except while a room catches up: for Config.CatchUp after its edge
// reconnects or the hub restarts (Restore), its timers follow its
// readings' times, from the last reading before the break, so neither a
// reconnection nor a restart raises a door or no-data alarm that a queued
// reading would refute. No-data counts from the reconnection; a restart
// neither fires nor resets a delay. A reading more than Config.MaxFuture
// ahead of the wall clock is refused: its value is not used and the room
// gets a sensor fault.
//
// # Edge offline
//
// An edge that goes offline holds the rooms behind it (those whose last
// reading came through it): their timers stop, so no alarm storm of no-data
// alarms follows. After Config.EdgeOfflineAfter one edge_offline alarm is
// raised and the alarms already active behind the edge are marked
// Suppressed (they stay active: nothing says they are over). When the edge
// comes back its alarm clears, the others are unsuppressed, and the rooms'
// no-data timers start again from the reconnection.
//
// # Never a false all-clear
//
// A faulted, implausible, frozen or missing temperature does not clear a
// high or low alarm; only valid values back inside the limit by the
// deadband for the off-delay do. Rules refused by
// contract.RoomRule.Validate are not applied.
//
// # Persistence
//
// The Engine keeps its state in memory. Snapshot returns it as JSON (the
// active alarms, each room's evaluator with its pending delays, the edges);
// the hub saves it periodically and at shutdown and passes it to Restore
// at start. The history of transitions is the Sink's to keep; Log is an
// in-memory one.
//
// # Several hubs
//
// An Engine must see every reading of a room: hubs that share a broker's
// subscription split the messages, so one hub (or one per share of the
// sites) runs the alarms.
package alarm
