package sim

import "sync"

// slaves is the table of slaves a simulated Modbus server answers for:
// the bank behind each unit and how it misbehaves. The TCP gateway and the
// RTU line share it. It is safe for concurrent use.
type slaves struct {
	mu     sync.Mutex
	units  map[byte]*Bank
	faults map[byte]Fault
}

// attach puts b behind unit, replacing any bank there; nil detaches it.
func (t *slaves) attach(unit byte, b *Bank) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if b == nil {
		delete(t.units, unit)
		return
	}
	if t.units == nil {
		t.units = make(map[byte]*Bank)
	}
	t.units[unit] = b
}

// setFault makes unit misbehave from its next request on; FaultNone heals it.
func (t *slaves) setFault(unit byte, f Fault) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.faults == nil {
		t.faults = make(map[byte]Fault)
	}
	t.faults[unit] = f
}

// slave returns unit's bank (nil when none is attached) and fault.
func (t *slaves) slave(unit byte) (*Bank, Fault) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.units[unit], t.faults[unit]
}

// except returns the banks of every unit whose fault is not f.
func (t *slaves) except(f Fault) []*Bank {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []*Bank
	for unit, b := range t.units {
		if t.faults[unit] != f {
			out = append(out, b)
		}
	}
	return out
}
