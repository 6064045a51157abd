// Package profile describes Modbus devices as data: a profile lists a device
// model's registers (table, address, type, byte and word order, scale,
// offset, unit, access), and this package plans the fewest read requests
// that cover them and turns the raw words into named values. For the
// fields marked rw it does the inverse: Encode turns a value into the words
// (or the coil state) to write, refusing what the device could not hold.
//
// A new device model needs a profile file, not code. The profiles the
// project ships live in package profiles, one folder per model.
package profile
