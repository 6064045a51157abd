// Package command sends commands from the hub to edge agents and matches
// the agents' results to them.
//
// A command is published on contract.CommandTopic at QoS 1, not retained,
// with an id unique for this hub ("hub-<random>-<seq>": the random part
// changes at every start, so ids never repeat across restarts or between
// hubs sharing a broker). The edge answers on its result topic with a
// contract.Result naming that id; the hub's ingest hands every result to
// Tracker.HandleResult, which records it and wakes whoever waits for it.
// A result that comes after its waiter gave up is still recorded, and
// Tracker.Get shows it. The last Keep commands are kept in memory with
// their results, and so is every command a caller still waits for
// however many were sent since; older ones are forgotten, and so is
// everything at a restart: the durable record of what an edge did is its own status and
// the events it sends.
//
// A result is accepted only from the edge the command went to: a result
// naming the command's id but coming from another site or edge is ignored.
//
// Commands change what runs in a warehouse (a cold-room setpoint, the sort
// plan that lights the bins). The HTTP routes that reach Tracker.Do
// (package httpapi) check no identity themselves: they must sit behind the
// coordinators' authentication, and until the hub has it they must only be
// reachable from the hub office's trusted network.
package command
