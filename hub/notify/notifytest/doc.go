// Package notifytest holds fakes of the receivers notify sends to, for
// tests here and in the packages that wire notifications in: a DingTalk
// and a WeCom robot, a webhook receiver and an SMTP server, each on
// localhost and recording what it received; and example alarms shared by
// those tests. The fakes are driven by setting fields and calling methods,
// as periph's gpiotest.Pin is.
package notifytest
