// Package examples holds the example configurations shipped for installers;
// its test keeps them valid as the configuration evolves.
package examples

import (
	"testing"

	"github.com/countylink/countylink/edge/config"
	"github.com/countylink/countylink/edge/profiles"
	"github.com/countylink/countylink/hub/server"
)

func TestExamplesValid(t *testing.T) {
	ec, err := config.Load("edge.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ec.Devices {
		if _, err := profiles.Load(ec.ProfileDir, d.Profile); err != nil {
			t.Error(err)
		}
	}
	if _, err := server.LoadConfig("hub.yaml"); err != nil {
		t.Fatal(err)
	}
}
