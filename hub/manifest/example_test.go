package manifest_test

import (
	"fmt"
	"strings"

	"github.com/countylink/countylink/hub/manifest"
)

func ExampleParse() {
	csv := "运单号,快递公司,地址,三段码,重量\n" +
		"SF1234567890123,顺丰,城关镇李家村3组,571-W01-01,1250g\n" +
		"731234567890,顺丰,城关镇王庄村,,1.5\n"
	b, err := manifest.Parse(strings.NewReader(csv), "", manifest.Options{
		Site:   "tw01",
		Source: "tw01_sf.csv",
		Villages: []manifest.Village{
			{ID: "tw01-v01", Site: "tw01", Names: []string{"李家村"}},
			{ID: "tw01-v02", Site: "tw01", Names: []string{"王庄村"}},
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range b.Parcels {
		fmt.Println(p.Waybill, p.Carrier, p.Village, p.SortCode, *p.WeightKg)
	}
	for _, e := range b.Report.Errors {
		fmt.Println(e)
	}
	// Output:
	// SF1234567890123 SF tw01-v01 571-W01-01 1.25
	// line 3 731234567890 carrier: carrier SF given, number looks like ZTO
}
