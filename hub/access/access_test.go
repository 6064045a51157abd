package access

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/countylink/countylink/contract"
)

func TestCases(t *testing.T) {
	for _, c := range Cases(contract.DefaultPrefix) {
		t.Run(c.Name, func(t *testing.T) {
			rules := Rules(contract.DefaultPrefix, c.Who)
			if got := Allowed(rules, c.Topic, c.Write); got != c.Allowed {
				t.Errorf("%s %s %q: allowed %v, want %v", c.Who, map[bool]string{true: "publish", false: "subscribe"}[c.Write], c.Topic, got, c.Allowed)
			}
			if c.Probe != "" {
				// The probe is a topic of the filter, published by one who
				// may, and read by Who only if the subscription is allowed.
				if !covers(strings.TrimPrefix(c.Topic, "$share/hubs/"), c.Probe) {
					t.Errorf("probe %q is not matched by %q", c.Probe, c.Topic)
				}
				if !Allowed(Rules(contract.DefaultPrefix, c.ProbeBy), c.Probe, true) {
					t.Errorf("%s may not publish the probe %q", c.ProbeBy, c.Probe)
				}
				if got := Allowed(rules, c.Probe, false); got != c.Allowed {
					t.Errorf("%s receiving the probe %q: %v, want %v", c.Who, c.Probe, got, c.Allowed)
				}
			}
		})
	}
}

func TestNoIdentityNoRules(t *testing.T) {
	for _, id := range []contract.Identity{{}, {Site: "tw01"}, {Hub: true}, contract.EdgeIdentity("TW01", "e1"), contract.EdgeIdentity("tw01", contract.SiteEdge)} {
		if r := Rules(contract.DefaultPrefix, id); r != nil {
			t.Errorf("Rules(%+v) = %v, want none", id, r)
		}
	}
	if Allowed(nil, "countylink/tw01/tw01-e1/status", true) {
		t.Error("no rules allowed a publish")
	}
}

func TestCovers(t *testing.T) {
	for _, c := range []struct {
		rule, filter string
		want         bool
	}{
		{"a/b", "a/b", true},
		{"a/b", "a/c", false},
		{"a/b", "a", false},
		{"a/b", "a/b/c", false},
		{"a/+", "a/b", true},
		{"a/+", "a/+", true},
		{"a/+", "a/#", false},
		{"a/+", "a/b/c", false},
		{"a/+", "a", false},
		{"a/+", "a/", true},
		{"a/#", "a", true},
		{"a/#", "a/b/c", true},
		{"a/#", "a/#", true},
		{"a/#", "a/+/c", true},
		{"a/#", "b", false},
		{"#", "anything/at/all", true},
		{"a/b", "a/+", false},
		{"a/b/+", "a/+/c", false},
		{"+/b", "$SYS/b", true}, // no rule starts with a wildcard (see covers)
	} {
		if got := covers(c.rule, c.filter); got != c.want {
			t.Errorf("covers(%q, %q) = %v, want %v", c.rule, c.filter, got, c.want)
		}
	}
	if Allowed([]Rule{{ReadWrite, "a/#"}}, "a/+", true) || Allowed([]Rule{{ReadWrite, "a/#"}}, "a/#", true) {
		t.Error("a publish on a wildcard topic was allowed")
	}
	for _, f := range []string{"$share/g", "$share//a/b", "$share/g/"} {
		if Allowed([]Rule{{Read, "a/#"}, {Read, "#"}}, f, false) {
			t.Errorf("malformed shared subscription %q allowed", f)
		}
	}
}

func TestMosquittoACL(t *testing.T) {
	got := string(MosquittoACL("countylink", []contract.Identity{CaseOtherSite, CaseHub, CaseEdge, {Site: "bad"}}))
	want := `
user _hub.hub
topic read countylink/#
topic write countylink/+/+/cmd/+
topic write countylink/+/_site/plan
topic write countylink/_hub/+/live

user tw01.tw01-e1
topic write countylink/tw01/tw01-e1/status
topic write countylink/tw01/tw01-e1/telemetry/+
topic write countylink/tw01/tw01-e1/event/+
topic write countylink/tw01/tw01-e1/result
topic read countylink/tw01/tw01-e1/cmd/+
topic read countylink/tw01/_site/plan

user tw02.tw02-e1
`
	if !strings.Contains(got, want) {
		t.Errorf("MosquittoACL:\n%s\nwant it to contain:\n%s", got, want)
	}
	if strings.Contains(got, "bad") {
		t.Errorf("an invalid identity got a block:\n%s", got)
	}
	// Nothing before the first user line: anonymous clients get no rule.
	for _, l := range strings.Split(got[:strings.Index(got, "\nuser ")], "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			t.Errorf("a rule for anonymous clients: %q", l)
		}
	}
}

func TestPasswords(t *testing.T) {
	p := Passwords{}
	if err := p.Set("tw01.tw01-e1", "s3cret"); err != nil {
		t.Fatal(err)
	}
	if err := p.Set("_hub.hub", "other"); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "a:b", "a\nb"} {
		if p.Set(bad, "x") == nil {
			t.Errorf("Set(%q) accepted", bad)
		}
	}
	back, err := ParsePasswords(p.Render())
	if err != nil {
		t.Fatal(err)
	}
	if !back.Check("tw01.tw01-e1", "s3cret") || back.Check("tw01.tw01-e1", "other") || back.Check("nobody", "s3cret") || !back.Check("_hub.hub", "other") {
		t.Error("checks after a round trip are wrong")
	}
	if !strings.HasPrefix(back["_hub.hub"], "$7$101$") {
		t.Errorf("hash %q is not Mosquitto 2.0's $7$", back["_hub.hub"])
	}
	for _, bad := range []string{"nocolon\n", "a:x\na:y\n", ":x\n"} {
		if _, err := ParsePasswords([]byte(bad)); err == nil {
			t.Errorf("ParsePasswords(%q) accepted", bad)
		}
	}
	for _, bad := range []string{"", "$7$", "$7$x$a$b", "$7$101$!!$AA==", "$5$a$b", "plain"} {
		if CheckPassword(bad, "") {
			t.Errorf("CheckPassword(%q) accepted", bad)
		}
	}
}

// TestMosquittoPasswdHashes checks the hashes of the real mosquitto_passwd
// ($7$ by default, $6$ on request) with CheckPassword. That Mosquitto takes
// HashPassword's is proven where a real broker runs with a generated file
// (hub/provision's TestRealMosquitto, deploy/e2e).
func TestMosquittoPasswdHashes(t *testing.T) {
	bin, err := exec.LookPath("mosquitto_passwd")
	if err != nil {
		if testing.Short() {
			t.Skip("mosquitto_passwd not installed")
		}
		t.Fatal("mosquitto_passwd not installed (make deps installs mosquitto)")
	}
	file := filepath.Join(t.TempDir(), "passwd")
	for _, c := range [][]string{
		{"-c", "-b", file, "tw01.tw01-e1", "pässword with spaces"},
		{"-b", "-H", "sha512", file, "_hub.hub", "x"},
	} {
		if out, err := exec.Command(bin, c...).CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_passwd %v: %v\n%s", c, err, out)
		}
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParsePasswords(data)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p["tw01.tw01-e1"], "$7$") || !strings.HasPrefix(p["_hub.hub"], "$6$") {
		t.Fatalf("unexpected hash kinds:\n%s", data)
	}
	if !p.Check("tw01.tw01-e1", "pässword with spaces") || p.Check("tw01.tw01-e1", "pässword") {
		t.Error("the $7$ hash of mosquitto_passwd does not check")
	}
	if !p.Check("_hub.hub", "x") || p.Check("_hub.hub", "y") {
		t.Error("the $6$ hash of mosquitto_passwd does not check")
	}
}

// TestEMQXACL: the EMQX rendering grants each identity what Rules does,
// per action, and ends denying everything else.
func TestEMQXACL(t *testing.T) {
	edge := contract.Identity{Site: "tw01", Edge: "tw01-e1"}
	hubID := contract.Identity{Hub: true, Name: "hub1"}
	got := string(EMQXACL("countylink", []contract.Identity{hubID, edge, {Site: "BAD"}}))
	for _, want := range []string{
		`{allow, {username, "tw01.tw01-e1"}, publish, ["countylink/tw01/tw01-e1/status", "countylink/tw01/tw01-e1/telemetry/+", "countylink/tw01/tw01-e1/event/+", "countylink/tw01/tw01-e1/result"]}.`,
		`{allow, {username, "tw01.tw01-e1"}, subscribe, ["countylink/tw01/tw01-e1/cmd/+", "countylink/tw01/_site/plan"]}.`,
		`{allow, {username, "_hub.hub1"}, subscribe, ["countylink/#"]}.`,
		`{allow, {username, "_hub.hub1"}, publish, ["countylink/+/+/cmd/+", "countylink/+/_site/plan", "countylink/_hub/+/live"]}.`,
	} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("EMQX ACL lacks %s:\n%s", want, got)
		}
	}
	if !strings.HasSuffix(got, "{deny, all}.\n") || strings.Contains(got, "BAD") {
		t.Errorf("EMQX ACL must end denying all and leave invalid identities out:\n%s", got)
	}
}
