package contract

import "strings"

// Example is one message as it travels on the wire, with the reason a
// consumer must reject it for ("" for a valid message). The examples are
// shared by the tests of every package that produces or consumes the
// contract, and by the fuzz tests as their seed corpus.
type Example struct {
	Name    string
	Topic   string
	Payload string
	Reject  Reason
}

// Examples lists valid and invalid messages under DefaultPrefix.
var Examples = []Example{
	{
		Name:  "telemetry/coldroom",
		Topic: "countylink/tw01/tw01-e1/telemetry/cr1-th",
		Payload: `{"v":1,"id":"tw01-e1-3-42","site":"tw01","edge":"tw01-e1","device":"cr1-th","room":"cr1",` +
			`"ts":"2026-11-29T07:00:00.123Z","sent":"2026-11-29T07:00:00.150Z",` +
			`"fields":{"temperature":2.4,"humidity":81.5},"units":{"temperature":"Cel","humidity":"%RH"}}`,
	},
	{
		Name:    "telemetry/minimal",
		Topic:   "countylink/tw05/tw05-e1/telemetry/cr1-th",
		Payload: `{"v":1,"id":"manual-1","site":"tw05","edge":"tw05-e1","device":"cr1-th","room":"cr1","ts":"2026-11-29T07:00:00Z","fields":{"temperature":-18.2}}`,
	},
	{
		Name:    "telemetry/fault",
		Topic:   "countylink/tw01/tw01-e1/telemetry/cr1-th",
		Payload: `{"v":1,"id":"tw01-e1-3-43","site":"tw01","edge":"tw01-e1","device":"cr1-th","room":"cr1","ts":"2026-11-29T07:00:10Z","fields":{"humidity":80.1},"faults":{"temperature":"probe open (raw 32767)"}}`,
	},
	{
		Name:  "status/online",
		Topic: "countylink/tw01/tw01-e1/status",
		Payload: `{"v":1,"id":"tw01-e1-3-1","site":"tw01","edge":"tw01-e1","ts":"2026-11-29T06:59:59Z","state":"online",` +
			`"agent":"edge-agent 0.1.0","devices":[{"id":"cr1-th","ok":true,"last_ok":"2026-11-29T06:59:59Z"}]}`,
	},
	{
		Name:    "status/offline-will",
		Topic:   "countylink/tw01/tw01-e1/status",
		Payload: `{"v":1,"id":"tw01-e1-3-will","site":"tw01","edge":"tw01-e1","ts":"2026-11-29T06:59:59Z","state":"offline"}`,
	},
	{
		Name:    "result/ping",
		Topic:   "countylink/tw01/tw01-e1/result",
		Payload: `{"v":1,"id":"tw01-e1-3-44","site":"tw01","edge":"tw01-e1","ts":"2026-11-29T07:00:11Z","command":"hub-1","ok":true}`,
	},
	{
		Name:  "event/sorted",
		Topic: "countylink/tw01/tw01-e1/event/st1",
		Payload: `{"v":1,"id":"tw01-e1-3-45","site":"tw01","edge":"tw01-e1","ts":"2026-11-29T07:00:12.310Z","sent":"2026-11-29T07:00:12.900Z",` +
			`"kind":"sorted","station":"st1","waybill":"SF1234567890123","carrier":"SF","route":"r3","bin":"b3","rule":"manifest",` +
			`"plan_version":"2026-11-29.1","weight_kg":1.25}`,
	},
	{
		Name:  "event/exception",
		Topic: "countylink/tw01/tw01-e1/event/st1",
		Payload: `{"v":1,"id":"tw01-e1-3-46","site":"tw01","edge":"tw01-e1","ts":"2026-11-29T07:00:20Z",` +
			`"kind":"sorted","station":"st1","waybill":"XQ000000000017","bin":"x","rule":"none","exception":"unknown",` +
			`"plan_version":"2026-11-29.1","weigh_error":"scale: weight not stable"}`,
	},
	{
		Name:    "event/confirmed",
		Topic:   "countylink/tw01/tw01-e1/event/st1",
		Payload: `{"v":1,"id":"tw01-e1-3-47","site":"tw01","edge":"tw01-e1","ts":"2026-11-29T07:00:15Z","kind":"confirmed","station":"st1","waybill":"SF1234567890123","route":"r3","bin":"b3","rule":"manifest","plan_version":"2026-11-29.1"}`,
	},
	{
		Name:  "event/loaded",
		Topic: "countylink/tw01/tw01-h/event/dock",
		Payload: `{"v":1,"id":"tw01-h-1-7","site":"tw01","edge":"tw01-h","ts":"2026-11-29T09:30:00Z",` +
			`"kind":"loaded","station":"dock","waybill":"SF1234567890123","run":"tw01-20261129-r3-1","bin":"b3","by":"zhang.wei"}`,
	},
	{
		Name:  "event/lot_weighed",
		Topic: "countylink/tw01/tw01-h/event/dock",
		Payload: `{"v":1,"id":"tw01-h-1-8","site":"tw01","edge":"tw01-h","ts":"2026-11-29T10:05:00Z",` +
			`"kind":"lot_weighed","station":"dock","waybill":"LOT-TW01-20261129-3","product":"小米","producer":"刘家合作社","grade":"A","weight_kg":50}`,
	},
	{
		Name:    "bad/event-loaded-without-run",
		Topic:   "countylink/tw01/tw01-h/event/dock",
		Payload: `{"v":1,"id":"x","site":"tw01","edge":"tw01-h","ts":"2026-11-29T09:30:00Z","kind":"loaded","station":"dock","waybill":"SF1234567890123"}`,
		Reject:  ReasonInvalid,
	},
	{
		Name:    "bad/event-lot-without-weight",
		Topic:   "countylink/tw01/tw01-h/event/dock",
		Payload: `{"v":1,"id":"x","site":"tw01","edge":"tw01-h","ts":"2026-11-29T10:05:00Z","kind":"lot_weighed","station":"dock","waybill":"LOT-1","product":"小米"}`,
		Reject:  ReasonInvalid,
	},
	{
		Name:    "bad/event-sorted-without-bin",
		Topic:   "countylink/tw01/tw01-e1/event/st1",
		Payload: `{"v":1,"id":"x","site":"tw01","edge":"tw01-e1","ts":"2026-11-29T07:00:15Z","kind":"sorted","station":"st1","waybill":"SF1234567890123","rule":"none"}`,
		Reject:  ReasonInvalid,
	},
	{
		Name:    "bad/event-other-station",
		Topic:   "countylink/tw01/tw01-e1/event/st1",
		Payload: `{"v":1,"id":"x","site":"tw01","edge":"tw01-e1","ts":"2026-11-29T07:00:15Z","kind":"sorted","station":"st2","waybill":"SF1234567890123","bin":"b3","rule":"manifest","plan_version":"1"}`,
		Reject:  ReasonIdentity,
	},
	{
		Name:    "bad/event-kind",
		Topic:   "countylink/tw01/tw01-e1/event/st1",
		Payload: `{"v":1,"id":"x","site":"tw01","edge":"tw01-e1","ts":"2026-11-29T07:00:15Z","kind":"lost","station":"st1","waybill":"SF1234567890123","bin":"b3","rule":"manifest","plan_version":"1"}`,
		Reject:  ReasonInvalid,
	},
	{
		Name:    "bad/event-waybill-control",
		Topic:   "countylink/tw01/tw01-e1/event/st1",
		Payload: `{"v":1,"id":"x","site":"tw01","edge":"tw01-e1","ts":"2026-11-29T07:00:15Z","kind":"sorted","station":"st1","waybill":"SF12\u0000","bin":"b3","rule":"manifest","plan_version":"1"}`,
		Reject:  ReasonInvalid,
	},
	{
		Name:    "bad/not-json",
		Topic:   "countylink/tw01/tw01-e1/telemetry/cr1-th",
		Payload: `temperature=2.4`,
		Reject:  ReasonMalformed,
	},
	{
		Name:    "bad/wrong-type",
		Topic:   "countylink/tw01/tw01-e1/telemetry/cr1-th",
		Payload: `{"v":1,"id":"x","site":"tw01","edge":"tw01-e1","device":"cr1-th","ts":"2026-11-29T07:00:00Z","fields":{"temperature":"2.4"}}`,
		Reject:  ReasonMalformed,
	},
	{
		Name:    "bad/future-version",
		Topic:   "countylink/tw01/tw01-e1/telemetry/cr1-th",
		Payload: `{"v":2,"id":"x","site":"tw01","edge":"tw01-e1","device":"cr1-th","ts":"2026-11-29T07:00:00Z","fields":{"temperature":2.4}}`,
		Reject:  ReasonVersion,
	},
	{
		Name:    "bad/no-version",
		Topic:   "countylink/tw01/tw01-e1/telemetry/cr1-th",
		Payload: `{"id":"x","site":"tw01","edge":"tw01-e1","device":"cr1-th","ts":"2026-11-29T07:00:00Z","fields":{"temperature":2.4}}`,
		Reject:  ReasonVersion,
	},
	{
		Name:    "bad/other-site",
		Topic:   "countylink/tw01/tw01-e1/telemetry/cr1-th",
		Payload: `{"v":1,"id":"x","site":"tw02","edge":"tw01-e1","device":"cr1-th","ts":"2026-11-29T07:00:00Z","fields":{"temperature":2.4}}`,
		Reject:  ReasonIdentity,
	},
	{
		Name:    "bad/other-device",
		Topic:   "countylink/tw01/tw01-e1/telemetry/cr1-th",
		Payload: `{"v":1,"id":"x","site":"tw01","edge":"tw01-e1","device":"cr2-th","ts":"2026-11-29T07:00:00Z","fields":{"temperature":2.4}}`,
		Reject:  ReasonIdentity,
	},
	{
		Name:    "bad/no-id",
		Topic:   "countylink/tw01/tw01-e1/telemetry/cr1-th",
		Payload: `{"v":1,"site":"tw01","edge":"tw01-e1","device":"cr1-th","ts":"2026-11-29T07:00:00Z","fields":{"temperature":2.4}}`,
		Reject:  ReasonInvalid,
	},
	{
		Name:    "bad/no-ts",
		Topic:   "countylink/tw01/tw01-e1/telemetry/cr1-th",
		Payload: `{"v":1,"id":"x","site":"tw01","edge":"tw01-e1","device":"cr1-th","fields":{"temperature":2.4}}`,
		Reject:  ReasonInvalid,
	},
	{
		Name:    "bad/no-fields",
		Topic:   "countylink/tw01/tw01-e1/telemetry/cr1-th",
		Payload: `{"v":1,"id":"x","site":"tw01","edge":"tw01-e1","device":"cr1-th","ts":"2026-11-29T07:00:00Z","fields":{}}`,
		Reject:  ReasonInvalid,
	},
	{
		Name:    "bad/field-name",
		Topic:   "countylink/tw01/tw01-e1/telemetry/cr1-th",
		Payload: `{"v":1,"id":"x","site":"tw01","edge":"tw01-e1","device":"cr1-th","ts":"2026-11-29T07:00:00Z","fields":{"Temp C":2.4}}`,
		Reject:  ReasonInvalid,
	},
	{
		Name:    "bad/status-state",
		Topic:   "countylink/tw01/tw01-e1/status",
		Payload: `{"v":1,"id":"x","site":"tw01","edge":"tw01-e1","ts":"2026-11-29T07:00:00Z","state":"sleepy"}`,
		Reject:  ReasonInvalid,
	},
	{
		Name:    "bad/topic-kind",
		Topic:   "countylink/tw01/tw01-e1/gossip",
		Payload: `{"v":1}`,
		Reject:  ReasonTopic,
	},
	{
		Name:    "bad/topic-upper",
		Topic:   "countylink/TW01/tw01-e1/status",
		Payload: `{"v":1}`,
		Reject:  ReasonTopic,
	},
	{
		Name:    "bad/oversize",
		Topic:   "countylink/tw01/tw01-e1/telemetry/cr1-th",
		Payload: `{"v":1,"id":"x","pad":"` + strings.Repeat("a", MaxPayloadBytes) + `"}`,
		Reject:  ReasonTooLarge,
	},
}
