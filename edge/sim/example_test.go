package sim_test

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/countylink/countylink/edge/sim"
	"github.com/goburrow/modbus"
)

// A cold room's transmitter behind a Modbus TCP gateway, read the way the
// edge agent reads the th-renke profile: function 03, address 0, quantity 2.
func Example() {
	srv, err := sim.NewModbusTCPServer("127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()

	room, err := sim.NewColdRoom(sim.DefaultColdRoomConfig())
	if err != nil {
		fmt.Println(err)
		return
	}
	bank := sim.NewBank()
	srv.Attach(1, bank)
	room.Step(time.Hour)
	room.Override(-18.3)
	room.WriteTo(bank, sim.LayoutRenke)

	handler := modbus.NewTCPClientHandler(srv.Addr())
	handler.SlaveId = 1
	handler.Timeout = 2 * time.Second
	defer handler.Close()
	regs, err := modbus.NewClient(handler).ReadHoldingRegisters(0, 2)
	if err != nil {
		fmt.Println(err)
		return
	}
	temp := int16(binary.BigEndian.Uint16(regs[2:]))
	fmt.Printf("temperature %.1f °C\n", float64(temp)/10)

	// The slave stops answering; the poller sees a timeout.
	srv.SetFault(1, sim.FaultTimeout)
	handler.Timeout = 50 * time.Millisecond
	_, err = modbus.NewClient(handler).ReadHoldingRegisters(0, 2)
	fmt.Println("timed out:", err != nil, srv.Stats().Dropped)
	// Output:
	// temperature -18.3 °C
	// timed out: true 1
}

// A cold-room controller behind a gateway: its setpoint, written over
// Modbus, becomes the room's, and the room cools to it as time passes.
func ExampleColdRoomController() {
	room, err := sim.NewColdRoom(sim.DefaultColdRoomConfig())
	if err != nil {
		fmt.Println(err)
		return
	}
	ctrl, err := sim.NewColdRoomController(room, sim.DefaultColdRoomControllerConfig())
	if err != nil {
		fmt.Println(err)
		return
	}
	srv, err := sim.NewModbusTCPServer("127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	srv.Attach(1, ctrl.Bank())

	handler := modbus.NewTCPClientHandler(srv.Addr())
	handler.SlaveId = 1
	handler.Timeout = 2 * time.Second
	defer handler.Close()
	client := modbus.NewClient(handler)
	sp := int16(-180) // -18.0 °C in tenths, holding register 0
	if _, err := client.WriteSingleRegister(0, uint16(sp)); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("room setpoint %.1f °C\n", room.Setpoint())

	ctrl.Step(4 * time.Hour)
	ctrl.Update()
	regs, err := client.ReadInputRegisters(0, 1)
	if err != nil {
		fmt.Println(err)
		return
	}
	temp := float64(int16(binary.BigEndian.Uint16(regs))) / 10
	fmt.Println("below -5 °C after four hours:", temp < -5)
	// Output:
	// room setpoint -18.0 °C
	// below -5 °C after four hours: true
}
