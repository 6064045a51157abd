package contract

import "testing"

func TestIdentityRoundTrip(t *testing.T) {
	for _, c := range []struct {
		id   Identity
		want string
	}{
		{EdgeIdentity("tw01", "tw01-e1"), "tw01.tw01-e1"},
		{EdgeIdentity("tw01-v03", "vp"), "tw01-v03.vp"},
		{HubIdentity("hub"), "_hub.hub"},
		{HubIdentity("hub-a"), "_hub.hub-a"},
	} {
		if got := c.id.String(); got != c.want {
			t.Errorf("%+v.String() = %q, want %q", c.id, got, c.want)
		}
		back, ok := ParseIdentity(c.want)
		if !ok || back != c.id {
			t.Errorf("ParseIdentity(%q) = %+v, %v; want %+v", c.want, back, ok, c.id)
		}
	}
}

func TestIdentityRefusals(t *testing.T) {
	for _, s := range []string{
		"", "tw01", "tw01.", ".tw01-e1", "tw01/tw01-e1", "tw01.tw01-e1.x", "TW01.e1",
		"tw01._site",     // the reserved edge level is no edge
		"_site.e1",       // nor a site
		"_hub.",          // a hub needs a name
		"_hub.Hub",       // an id
		"_hub._hub",      // ditto
		"_other.e1",      // only _hub is reserved
		"tw01.e1 ",       // no blanks
		"tw01.e1/#",      // no topic characters
		"tw01.e1\x00",    // nor control ones
		"tw01:e1",        // the password file's separator
		"tw01.e1+other",  // wildcards
		"countylink.e1/", // slash
	} {
		if id, ok := ParseIdentity(s); ok {
			t.Errorf("ParseIdentity(%q) = %+v, accepted", s, id)
		}
	}
	if EdgeIdentity("tw01", SiteEdge).Valid() {
		t.Error("an edge named like the site level is valid")
	}
}
