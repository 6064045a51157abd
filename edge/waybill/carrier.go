package waybill

import (
	"fmt"
	"strings"
)

// Carrier is an express company whose waybill numbers this package knows.
// The zero value, NoCarrier, means no carrier or not one carrier.
type Carrier uint8

// The carriers, in the order used to break ties between equally likely
// candidates.
const (
	NoCarrier Carrier = iota
	SF                // 顺丰速运 SF Express
	JD                // 京东物流 JD Logistics
	YTO               // 圆通速递 YTO Express
	ZTO               // 中通快递 ZTO Express
	JT                // 极兔速递 J&T Express
	Yunda             // 韵达速递 Yunda Express
	ChinaPost         // 中国邮政 China Post, including EMS
	numCarriers
)

var carrierNames = [numCarriers]struct {
	code, chinese, english string
	aliases                []string
}{
	NoCarrier: {"", "", "", nil},
	SF:        {"SF", "顺丰速运", "SF Express", []string{"顺丰", "SFEXPRESS", "SHUNFENG"}},
	JD:        {"JD", "京东物流", "JD Logistics", []string{"京东", "京东快递", "JINGDONG"}},
	YTO:       {"YTO", "圆通速递", "YTO Express", []string{"圆通", "圆通快递", "YUANTONG"}},
	ZTO:       {"ZTO", "中通快递", "ZTO Express", []string{"中通", "ZHONGTONG"}},
	JT:        {"JT", "极兔速递", "J&T Express", []string{"极兔", "JTEXPRESS", "J&T", "JITU"}},
	Yunda:     {"YUNDA", "韵达速递", "Yunda Express", []string{"韵达", "韵达快递", "YD"}},
	ChinaPost: {"POST", "中国邮政", "China Post / EMS", []string{"邮政", "EMS", "CHINAPOST", "CHINA POST", "YOUZHENG", "邮政快递包裹"}},
}

// Carriers returns every carrier, NoCarrier excluded, in tie-break order.
func Carriers() []Carrier {
	out := make([]Carrier, 0, numCarriers-1)
	for c := SF; c < numCarriers; c++ {
		out = append(out, c)
	}
	return out
}

// String returns the carrier's stable code ("SF", "JD", "YTO", "ZTO",
// "JT", "YUNDA", "POST"), as used in JSON and configuration; NoCarrier is
// "NONE".
func (c Carrier) String() string {
	switch {
	case c == NoCarrier:
		return "NONE"
	case c < numCarriers:
		return carrierNames[c].code
	}
	return fmt.Sprintf("Carrier(%d)", uint8(c))
}

// Chinese returns the carrier's Chinese name, for example "顺丰速运".
func (c Carrier) Chinese() string {
	if c < numCarriers {
		return carrierNames[c].chinese
	}
	return ""
}

// English returns the carrier's English name, for example "SF Express".
func (c Carrier) English() string {
	if c < numCarriers {
		return carrierNames[c].english
	}
	return ""
}

// MarshalText encodes the carrier as its code.
func (c Carrier) MarshalText() ([]byte, error) {
	if c >= numCarriers {
		return nil, fmt.Errorf("waybill: invalid carrier %d", uint8(c))
	}
	return []byte(c.String()), nil
}

// UnmarshalText decodes a carrier with ParseCarrier.
func (c *Carrier) UnmarshalText(b []byte) error {
	v, err := ParseCarrier(string(b))
	if err != nil {
		return err
	}
	*c = v
	return nil
}

// ParseCarrier returns the carrier named by s: its code, its Chinese or
// English name, or a common short name as manifests write it ("顺丰",
// "EMS", "J&T"); case and surrounding space do not matter. "NONE" and ""
// give NoCarrier.
func ParseCarrier(s string) (Carrier, error) {
	k := strings.ToUpper(strings.TrimSpace(s))
	if k == "" || k == "NONE" {
		return NoCarrier, nil
	}
	for c := SF; c < numCarriers; c++ {
		n := carrierNames[c]
		if k == n.code || k == strings.ToUpper(n.english) || k == n.chinese {
			return c, nil
		}
		for _, a := range n.aliases {
			if k == a {
				return c, nil
			}
		}
	}
	return NoCarrier, fmt.Errorf("waybill: unknown carrier %q", s)
}
