// Package notify tells people about cold-chain alarms: it sends each alarm
// event the hub's alarm service raises to the chat groups, mailboxes and
// systems its routes name, per township, and escalates an alarm nobody
// acknowledges to a second group.
//
// The alarm service calls Dispatcher.Notify with an Alarm at each event
// (raised, realarm, acknowledged, cleared). Notify never blocks: it
// matches the routes (sites, kinds, least severity; an unknown severity
// counts as critical) and queues the alarm for the channels of the
// matching groups. Each channel has one worker
// that sends its queue in order, so one slow or failing receiver never
// holds up another. Channels are a signed JSON Webhook, a DingTalk custom
// robot, a WeCom group robot and Email over SMTP; anything with Name and
// Send can be added in code.
//
// # Delivery
//
// Rate limit: each channel has a token bucket (RateLimit). A send beyond
// it waits for a token; it is never dropped for the limit.
//
// Retry: a failed send is tried again after Retry.Backoff, doubling to
// Retry.MaxBackoff, Retry.Attempts times in all; a receiver saying we send
// too fast (ErrRateLimited) pauses the channel for Retry.RateLimitedBackoff
// at the least. A refusal that cannot change (ErrRejected: a bad key, a
// 4xx, an SMTP 5xx) is not retried. A send given up on is counted as
// failed and logged as an error.
//
// Coalescing: a channel's queue holds at most one notification per alarm
// ID. An update of an alarm that still waits replaces it in place, so a
// backed-up channel sends the latest state of each alarm once rather than
// its whole history (an alarm raised and cleared while the robot was
// throttled arrives as one "cleared" notification). A retry is abandoned
// in the same way when a newer update of its alarm waits.
//
// Full queue: a queue takes QueueSize distinct alarms. Beyond that a new
// notification is dropped, counted and logged as a warning, except the
// first news of a critical alarm (event raised or escalated, severity
// critical), which is always queued, beyond the size if need be, and
// logged: the number of such alarms is bounded by the county's rooms.
//
// Shutdown: when Run's context ends or Close is called, workers spend up
// to DrainTimeout sending what waits; what is left is counted as dropped
// and logged as an error.
//
// Latency: nothing is batched. With a token in the bucket, a notification
// leaves for its receiver as soon as Notify queues it: from Notify to a
// local webhook receiving the signed request takes well under a
// millisecond (TestLatency logs it, BenchmarkNotifyToWebhook measures
// it), against the one second the hub promises from an alarm to the
// webhook call.
//
// # Escalation
//
// A route with EscalateTo and EscalateAfter escalates: when an alarm it
// matched was raised and is neither acknowledged nor cleared
// EscalateAfter later, the dispatcher sends it to the EscalateTo group with
// event "escalated". The dispatcher tracks this itself from the events it
// is given: an acknowledged or cleared event for the alarm's ID cancels
// the escalation. Once escalated, the alarm's later events (realarm,
// acknowledged, cleared) go to the escalation group too, until it is
// cleared. Escalations are kept in memory: a restart forgets them.
//
// # Webhook
//
// A Webhook posts the alarm as JSON: the fields of Alarm and "text", the
// Chinese and English lines of Text.
//
//	POST /hook HTTP/1.1
//	Content-Type: application/json; charset=utf-8
//	X-CountyLink-Event: raised
//	X-CountyLink-Timestamp: 1782885900
//	X-CountyLink-Signature: sha256=3f1c…(64 hex digits)
//
//	{"id":"tw01-cr1-high-20260701T060000Z","site":"tw01","site_name":"城关镇","site_name_en":"Chengguan",
//	 "room":"cr1","room_name":"1号冷库","room_name_en":"cold room 1",
//	 "kind":"high","severity":"critical","state":"active","event":"raised",
//	 "value":6.8,"limit":4,"unit":"°C",
//	 "raised":"2026-07-01T14:00:00+08:00","updated":"2026-07-01T14:05:00+08:00","count":1,
//	 "url":"https://hub.example.cn/#/alarms/tw01-cr1-high-20260701T060000Z",
//	 "text":"【严重】城关镇 1号冷库 温度超上限: 6.8 °C (上限 4.0 °C), 持续 5 分钟\nCRITICAL: Chengguan cold room 1 temperature above high limit: 6.8 °C (high limit 4.0 °C), for 5 min"}
//
// kind is high, low, door_open, sensor_fault, no_data, edge_offline or edge_flood;
// severity critical, major or minor; state active, acknowledged or
// cleared; event raised, realarm, acknowledged, cleared or escalated.
// value and limit are null when the alarm has none; room and the *_en,
// message, acked_by, ack_comment and url fields are left out when empty.
//
// The signature is "sha256=" and the hex HMAC-SHA256, keyed with the
// channel's secret, of the timestamp header, a dot, and the raw body. A
// receiver checks it with VerifyWebhook, which also refuses a timestamp
// more than five minutes from its clock, and answers 2xx. It should treat
// a repeated (id, event, updated) as one notification: a send retried
// after a lost answer arrives twice.
//
// # Configuration
//
// Config is the notify: section of hub.yaml; ReadSecretFiles reads the
// *_file fields and Validate names each bad field.
//
//	notify:
//	  channels:
//	    tw01-dingtalk:
//	      type: dingtalk
//	      url_file: /etc/countylink/secrets/tw01-dingtalk-url   # https://oapi.dingtalk.com/robot/send?access_token=…
//	      secret_file: /etc/countylink/secrets/tw01-dingtalk-secret
//	      at_mobiles: ["13800000001"]
//	    county-wecom:
//	      type: wecom
//	      url_file: /etc/countylink/secrets/county-wecom-url     # https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…
//	    duty-webhook:
//	      type: webhook
//	      url: https://duty.county.example.cn/countylink
//	      secret_file: /etc/countylink/secrets/duty-webhook
//	      rate_limit: {per_minute: 120, burst: 20}
//	    county-mail:
//	      type: email
//	      addr: smtp.163.com:465
//	      tls: tls
//	      from: 冷链告警 <coldchain@county.example.cn>
//	      to: [office@county.example.cn]
//	      username: coldchain@county.example.cn
//	      password_file: /etc/countylink/secrets/smtp
//	  groups:
//	    tw01: [tw01-dingtalk]
//	    county: [county-wecom, duty-webhook, county-mail]
//	  routes:
//	    - sites: [tw01]
//	      group: tw01
//	      escalate_to: county
//	      escalate_after: 15m
//	    - sites: ["*"]
//	      min_severity: critical
//	      group: county
//	  rate_limit: {per_minute: 15, burst: 5}
//	  retry: {attempts: 5, backoff: 2s, max_backoff: 1m, rate_limited_backoff: 1m}
//	  queue_size: 256
//	  timeout: 10s
//	  drain_timeout: 5s
//
// # Metrics
//
// Dispatcher.Stats gives each channel's counters (sent, failed, retried,
// dropped, coalesced, delayed by the rate limit, escalated) and queue
// length, for the hub's /metrics.
package notify
