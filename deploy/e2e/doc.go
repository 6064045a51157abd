// Package e2e tests the system as it is deployed: the real edge-agent
// binary (also built for arm64 and run under qemu), the hub's production
// wiring, a real Mosquitto with the configuration shipped in deploy/, a real
// InfluxDB 1.8 through its v2 API, and the demo as `make run` starts it.
// It has no code of its own beyond the tests.
package e2e
