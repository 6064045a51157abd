package notify

import (
	"net/mail"
	"time"
)

// Markdown and MailMessage expose the robot and mail renderings to the
// golden test.
func Markdown(a Alarm, mentions []string) string { return markdown(a, mentions) }

func MailMessage(a Alarm, from string, to []string, now time.Time) ([]byte, error) {
	f, err := mail.ParseAddress(from)
	if err != nil {
		return nil, err
	}
	var t []*mail.Address
	for _, s := range to {
		a, err := mail.ParseAddress(s)
		if err != nil {
			return nil, err
		}
		t = append(t, a)
	}
	return mailMessage(a, f, t, now)
}
