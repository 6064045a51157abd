// Command benchtable reads `go test -bench` output on stdin and prints the
// benchmark table `make bench` ends with (see deploy/benchtable). It exits
// 1 when a goal was missed, so the table is honest about it.
package main

import (
	"fmt"
	"os"

	"github.com/countylink/countylink/deploy/benchtable"
)

func main() {
	rs, err := benchtable.Parse(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(2)
	}
	if missed := benchtable.Render(os.Stdout, rs); missed > 0 {
		fmt.Printf("\n%d goal(s) missed or not measured.\n", missed)
		os.Exit(1)
	}
}
