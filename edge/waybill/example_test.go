package waybill_test

import (
	"fmt"

	"github.com/countylink/countylink/edge/waybill"
)

func ExampleParse() {
	for _, code := range []string{"sf1234567890123", "EE123456785CN", "1100123456789", "HELLO"} {
		r := waybill.Parse(code)
		switch {
		case r.Unknown:
			fmt.Printf("%s: unknown (%s)\n", r.Code, r.Reason)
		case r.Ambiguous:
			fmt.Printf("%s: ambiguous, candidates %v\n", r.Code, r.Candidates)
		default:
			fmt.Printf("%s: %s %s\n", r.Code, r.Carrier.Chinese(), r.Carrier.English())
		}
	}
	// Output:
	// SF1234567890123: 顺丰速运 SF Express
	// EE123456785CN: 中国邮政 China Post / EMS
	// 1100123456789: ambiguous, candidates [POST YUNDA]
	// HELLO: unknown (matches no carrier's pattern)
}

func ExampleParseSortCode() {
	sc, err := waybill.ParseSortCode("200 D06 15")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(sc.Centre, sc.Station, sc.Route, sc)
	// Output: 200 D06 15 200-D06-15
}
