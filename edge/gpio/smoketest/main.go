// Command smoketest checks a warehouse box's GPIO wiring on the real
// hardware; it is run by a person at the box, never by make test.
//
//	go build -o gpio-smoketest ./edge/gpio/smoketest   (GOARCH=arm64 for a Pi)
//	sudo ./gpio-smoketest -lamp GPIO22 -input GPIO17 -seconds 20
//
// It blinks the lamp (or stack light segment, or buzzer) on -lamp three
// times, then prints every debounced change of -input (open and close the
// door, press the button) for the given time.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/countylink/countylink/edge/gpio"
)

func main() {
	lamp := flag.String("lamp", "", "output pin to blink (e.g. GPIO22)")
	input := flag.String("input", "", "input pin to watch (e.g. GPIO17)")
	activeLow := flag.Bool("active-low", false, "the output is on when the line is low (relay boards)")
	seconds := flag.Int("seconds", 20, "how long to watch the input")
	flag.Parse()
	if *lamp == "" && *input == "" {
		flag.Usage()
		os.Exit(2)
	}
	if *lamp != "" {
		p, err := gpio.OpenPin(*lamp)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		out := &gpio.Output{Name: *lamp, Pin: p, ActiveLow: *activeLow}
		fmt.Printf("%s: three blinks\n", *lamp)
		out.Beep(3, 300*time.Millisecond)
		time.Sleep(2 * time.Second)
		if err := out.Err(); err != nil {
			fmt.Fprintln(os.Stderr, "write failed:", err)
			os.Exit(1)
		}
	}
	if *input != "" {
		p, err := gpio.OpenPin(*input)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		in := &gpio.Input{Name: *input, Pin: p}
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(*seconds)*time.Second)
		defer cancel()
		events := make(chan gpio.Event, 16)
		go func() {
			if err := in.Run(ctx, events); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}()
		fmt.Printf("%s: watching for %ds; open and close the contact\n", *input, *seconds)
		for {
			select {
			case e := <-events:
				fmt.Printf("%s %s active=%v\n", e.At.Format("15:04:05.000"), e.Name, e.Active)
			case <-ctx.Done():
				s := in.Stats()
				fmt.Printf("edges %d, bounces absorbed %d\n", s.Edges, s.Bounces)
				return
			}
		}
	}
}
