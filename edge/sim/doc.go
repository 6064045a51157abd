// Package sim simulates the field devices of a township warehouse so that
// tests and the `make run` demo exercise the edge agent without hardware.
//
// A Bank holds one Modbus slave's four tables. A ModbusTCPServer serves
// banks over Modbus TCP on a real socket, several slaves behind one port the
// way an RS-485 to Ethernet gateway does, and can be told to misbehave per
// slave (Fault) so tests see the timeouts, exceptions and garbled frames a
// real bus produces. A ColdRoom models a refrigerated room's temperature and
// humidity, compressor cycles, door openings and probe faults, and writes
// its readings into a Bank with the register layout of a real transmitter
// (LayoutRenke, LayoutSwapped).
//
// Two simulators are whole Modbus devices that own their Bank and react to
// writes through Bank.OnWrite, whichever server carries them: a
// ColdRoomController runs a ColdRoom with probes, door, relays, alarms and
// a setpoint that the room follows when it is written; a WeighIndicator
// shows a Scale's load as gross, net, tare and status registers and obeys
// zero and tare commands. Their layouts are the ones the edge profiles
// coldroom-ctrl and weigh-modbus read.
//
// The simulators are written from the Modbus specification, not from the
// edge agent's own code, so a misreading of the protocol on one side is not
// mirrored on the other. Everything is deterministic for a given seed.
//
// Typical use in a test:
//
//	bank := sim.NewBank()
//	srv, err := sim.NewModbusTCPServer("127.0.0.1:0")
//	// handle err
//	t.Cleanup(func() { srv.Close() })
//	srv.Attach(1, bank)
//	room, err := sim.NewColdRoom(sim.DefaultColdRoomConfig())
//	// handle err
//	room.Override(2.5)
//	room.WriteTo(bank, sim.LayoutRenke)
//	// poll srv.Addr(), slave 1, holding registers 0 and 1
package sim
