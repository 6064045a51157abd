package live

import "testing"

func TestFanOutAndCutOff(t *testing.T) {
	h := New()
	fast, slow := h.Subscribe(10), h.Subscribe(1)
	for i := 0; i < 3; i++ {
		h.Publish(Event{Type: "x", Data: []byte{byte(i)}})
	}
	for i := 0; i < 3; i++ {
		if e := <-fast.C; e.Data[0] != byte(i) {
			t.Fatalf("fast got %v at %d", e.Data, i)
		}
	}
	select {
	case <-slow.Done:
	default:
		t.Fatal("slow subscriber not cut off")
	}
	if h.Subscribers() != 1 || h.CutOff() != 1 {
		t.Fatalf("subs %d cutoff %d", h.Subscribers(), h.CutOff())
	}
	h.Unsubscribe(fast)
	h.Unsubscribe(fast) // twice is harmless
	if h.Subscribers() != 0 {
		t.Fatal("not removed")
	}
}
