package sandbox

import (
	"encoding/json"
	"errors"
	"os"
	"slices"
	"testing"
	"time"
)

// eventSchemas is, for each event type the sandbox emits, the required and allowed
// fields of its variant in Seam's OpenAPI (@seamapi/types 1.977.0), extracted into
// testdata/event_schemas.json.
func eventSchemas(t *testing.T) map[string]struct{ Required, Allowed []string } {
	t.Helper()
	b, err := os.ReadFile("testdata/event_schemas.json")
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]struct{ Required, Allowed []string }
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// allEvents lists every event since the clock's start, oldest first.
func (e *env) allEvents() []map[string]any {
	e.t.Helper()
	evs := list(e.ok("events/list", map[string]any{"since": "2000-01-01", "limit": 10000}), "events")
	out := make([]map[string]any, len(evs))
	for i, ev := range evs {
		out[len(evs)-1-i] = ev.(map[string]any)
	}
	return out
}

func eventTypes(evs []map[string]any) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i], _ = ev["event_type"].(string)
	}
	return out
}

// TestEveryChangeEmitsSeamShapedEvents drives every state change and checks each
// event against Seam's schema: required fields present, no field Seam lacks.
func TestEveryChangeEmitsSeamShapedEvents(t *testing.T) {
	clk := newClock()
	e := newEnv(t, Options{Now: clk.Now, ActionDelay: time.Second})
	acc, devs := e.sb.AddConnectedAccount("u", 2)
	dev := devs[0]

	step := func(name string, f func() error) {
		t.Helper()
		clk.Advance(time.Second)
		if err := f(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	step("unlock by hand", func() error { return e.sb.SetLocked(dev, false, MethodManual) })
	step("unlock again: nothing", func() error { return e.sb.SetLocked(dev, false, MethodManual) })
	step("lock with keycode", func() error { return e.sb.SetLocked(dev, true, MethodKeycode) })
	step("offline", func() error { return e.sb.SetOnline(dev, false) })
	step("online", func() error { return e.sb.SetOnline(dev, true) })
	step("drain", func() error { return e.sb.SetBattery(dev, 0.1) })
	step("restore", func() error { return e.sb.SetBattery(dev, 1) })
	clk.Advance(time.Second)
	unlock := str(e.ok("locks/unlock_door", map[string]any{"device_id": dev})["action_attempt"], "action_attempt_id")
	clk.Advance(time.Second)
	e.attempt(unlock) // settles
	e.sb.FailNextAction(dev, "lock_jammed", "The lock is jammed")
	lock := str(e.ok("locks/lock_door", map[string]any{"device_id": dev})["action_attempt"], "action_attempt_id")
	clk.Advance(time.Second)
	e.attempt(lock)
	step("disconnect", func() error { return e.sb.DisconnectAccount(acc) })
	step("reconnect", func() error { return e.sb.ReconnectAccount(acc) })
	step("remove", func() error { return e.sb.RemoveDevice(devs[1]) })
	step("delete", func() error { return e.sb.DeleteAccount(acc) })

	evs := e.allEvents()
	want := []string{
		"connected_account.connected", "device.added", "device.added",
		"lock.unlocked", "lock.locked",
		"device.disconnected", "device.connected",
		"device.low_battery", "device.battery_status_changed", "device.battery_status_changed",
		"lock.unlocked", "action_attempt.unlock_door.succeeded",
		"action_attempt.lock_door.failed",
		"connected_account.disconnected", "device.disconnected", "device.disconnected",
		"connected_account.connected", "device.connected", "device.connected",
		"device.removed",
		"device.deleted", "connected_account.deleted",
	}
	if got := eventTypes(evs); !slices.Equal(got, want) {
		t.Fatalf("events\n got %v\nwant %v", got, want)
	}

	schemas := eventSchemas(t)
	for _, ev := range evs {
		typ := ev["event_type"].(string)
		sc, ok := schemas[typ]
		if !ok {
			t.Errorf("%s: no schema in testdata", typ)
			continue
		}
		for _, f := range sc.Required {
			if _, ok := ev[f]; !ok {
				t.Errorf("%s lacks required %s: %v", typ, f, ev)
			}
		}
		for f := range ev {
			if !slices.Contains(sc.Allowed, f) {
				t.Errorf("%s has %s, which Seam's schema does not: %v", typ, f, ev)
			}
		}
		if ev["workspace_id"] == "" || ev["created_at"] == "" || ev["occurred_at"] == "" {
			t.Errorf("%s: empty common field: %v", typ, ev)
		}
	}

	// Field values.
	if m := evs[3]["method"]; m != MethodManual || evs[3]["action_attempt_id"] != nil {
		t.Errorf("manual unlock: %v", evs[3])
	}
	if m := evs[4]["method"]; m != MethodKeycode {
		t.Errorf("keycode lock: %v", evs[4])
	}
	if evs[5]["error_code"] != "device_disconnected" || len(list(evs[5], "device_errors")) != 1 ||
		list(evs[5], "connected_account_errors") == nil {
		t.Errorf("device.disconnected: %v", evs[5])
	}
	if evs[7]["battery_level"] != 0.1 || evs[8]["battery_status"] != "low" || evs[9]["battery_status"] != "full" || evs[9]["battery_level"] != 1.0 {
		t.Errorf("battery events: %v %v %v", evs[7], evs[8], evs[9])
	}
	if evs[10]["method"] != MethodRemote || evs[10]["action_attempt_id"] != unlock ||
		evs[11]["action_attempt_id"] != unlock || evs[11]["status"] != "success" || evs[11]["action_type"] != "UNLOCK_DOOR" {
		t.Errorf("unlock attempt events: %v %v", evs[10], evs[11])
	}
	if evs[12]["action_attempt_id"] != lock || evs[12]["status"] != "error" || evs[12]["device_id"] != dev {
		t.Errorf("failed lock attempt: %v", evs[12])
	}
	if errs := list(evs[13], "connected_account_errors"); len(errs) != 1 || str(errs[0], "error_code") != "account_disconnected" {
		t.Errorf("connected_account.disconnected: %v", evs[13])
	}
	if evs[14]["error_code"] != "account_disconnected" {
		t.Errorf("device.disconnected after the account: %v", evs[14])
	}
	if evs[20]["device_name"] != "Lock 1" || evs[21]["connected_account_type"] != "august" {
		t.Errorf("deletion events: %v %v", evs[20], evs[21])
	}
	for i := 1; i < len(evs); i++ {
		if evs[i]["created_at"].(string) < evs[i-1]["created_at"].(string) {
			t.Errorf("events out of order at %d", i)
		}
	}
	for _, ev := range evs[:3] {
		b, _ := json.Marshal(ev)
		t.Logf("%s", b)
	}
}

func TestControlsChangeDevices(t *testing.T) {
	clk := newClock()
	e := newEnv(t, Options{Now: clk.Now})
	acc, devs := e.sb.AddConnectedAccount("u", 2)
	get := func(id string) map[string]any {
		return e.ok("devices/get", map[string]any{"device_id": id})["device"].(map[string]any)
	}
	if err := e.sb.SetBattery(devs[0], 0.1); err != nil {
		t.Fatal(err)
	}
	d := get(devs[0])
	if dig(d, "properties.battery_level") != 0.1 || str(d, "properties.battery.status") != "low" ||
		!slices.Equal(ids(d, "warnings", "warning_code"), []string{"low_battery"}) {
		t.Errorf("drained: %v", d)
	}
	if err := e.sb.SetOnline(devs[0], false); err != nil {
		t.Fatal(err)
	}
	if err := e.sb.DisconnectAccount(acc); err != nil {
		t.Fatal(err)
	}
	d = get(devs[0])
	if dig(d, "properties.online") != false || !slices.Equal(ids(d, "errors", "error_code"), []string{"account_disconnected"}) {
		t.Errorf("disconnected account's device: %v", d)
	}
	a := e.ok("connected_accounts/get", map[string]any{"connected_account_id": acc})["connected_account"]
	if !slices.Equal(ids(a, "errors", "error_code"), []string{"account_disconnected"}) {
		t.Errorf("account: %v", a)
	}
	res := e.ok("locks/unlock_door", map[string]any{"device_id": devs[1]})
	clk.Advance(DefaultActionDelay)
	if got := str(e.attempt(str(res["action_attempt"], "action_attempt_id")), "error.type"); got != "account_disconnected" {
		t.Errorf("unlock on a disconnected account: error %q", got)
	}
	if err := e.sb.ReconnectAccount(acc); err != nil {
		t.Fatal(err)
	}
	// The device taken offline by hand stays offline; the other comes back.
	if d := get(devs[0]); dig(d, "properties.online") != false || !slices.Equal(ids(d, "errors", "error_code"), []string{"device_disconnected"}) {
		t.Errorf("offline device after reconnect: %v", d)
	}
	if d := get(devs[1]); dig(d, "properties.online") != true || len(list(d, "errors")) != 0 {
		t.Errorf("device after reconnect: %v", d)
	}

	for _, err := range []error{
		e.sb.SetLocked("nope", true, MethodManual),
		e.sb.SetOnline("nope", true),
		e.sb.SetBattery("nope", 0.5),
		e.sb.RemoveDevice("nope"),
	} {
		if !errors.Is(err, ErrDeviceNotFound) {
			t.Errorf("unknown device: %v", err)
		}
	}
	for _, err := range []error{e.sb.DisconnectAccount("nope"), e.sb.ReconnectAccount("nope"), e.sb.DeleteAccount("nope")} {
		if !errors.Is(err, ErrAccountNotFound) {
			t.Errorf("unknown account: %v", err)
		}
	}
	if err := e.sb.SetLocked(devs[0], true, "seamapi"); !errors.Is(err, ErrInvalidMethod) {
		t.Errorf("method seamapi: %v", err)
	}
	if err := e.sb.SetBattery(devs[0], 1.5); !errors.Is(err, ErrInvalidBatteryLevel) {
		t.Errorf("battery 1.5: %v", err)
	}
}

func TestRealClockSettlesAttemptsWithoutRequests(t *testing.T) {
	e := newEnv(t, Options{ActionDelay: 30 * time.Millisecond})
	_, devs := e.sb.AddConnectedAccount("u", 1)
	rec := newReceiver(t)
	e.ok("webhooks/create", map[string]any{"url": rec.srv.URL, "event_types": []string{"lock.unlocked"}})
	e.ok("locks/unlock_door", map[string]any{"device_id": devs[0]})
	// No further request: the timer settles the attempt and the webhook fires.
	got := rec.wait(t, 1)
	if got[0].event["event_type"] != "lock.unlocked" || got[0].event["method"] != MethodRemote {
		t.Fatalf("delivered %v", got[0].event)
	}
}

func TestBuildingLogin(t *testing.T) {
	a, b := locksFor(BuildingEmail), locksFor(BuildingEmail)
	if len(a) != 50 || !slices.Equal(a, b) {
		t.Fatalf("%d locks, deterministic: %v", len(a), slices.Equal(a, b))
	}
	var offline, unlocked, low, noRemote int
	names := map[string]bool{}
	for _, l := range a {
		names[l.name] = true
		if !l.online {
			offline++
		}
		if !l.locked {
			unlocked++
		}
		if isLowBattery(batteryStatus(l.battery)) {
			low++
		}
		if !l.canRemotelyUnlock {
			noRemote++
		}
		if l.battery < 0 || l.battery > 1 {
			t.Errorf("%s: battery %v", l.name, l.battery)
		}
	}
	if len(names) != 50 || !names["Unit 101 Front Door"] || !names["Lobby Main Entrance"] {
		t.Errorf("names: %v", names)
	}
	if offline != 5 || unlocked != 7 || low != 4 || noRemote != 2 {
		t.Errorf("offline %d, unlocked %d, low battery %d, no remote unlock %d; want 5, 7, 4, 2", offline, unlocked, low, noRemote)
	}
	if _, ok := findLogin(BuildingEmail); !ok {
		t.Error("building@example.com is not a login")
	}

	// Through the webview: one account, 50 devices, the states visible in the API.
	e := newEnv(t, Options{})
	_, accID := e.connectUser("manager", BuildingEmail)
	devs := list(e.ok("devices/list", map[string]any{"user_identifier_key": "manager", "limit": 100}), "devices")
	if len(devs) != 50 {
		t.Fatalf("%d devices", len(devs))
	}
	var lowWarn, offlineErr int
	for _, d := range devs {
		if str(d, "connected_account_id") != accID {
			t.Errorf("device of another account: %v", d)
		}
		if slices.Contains(ids(d, "warnings", "warning_code"), "low_battery") {
			lowWarn++
		}
		if slices.Contains(ids(d, "errors", "error_code"), "device_disconnected") && dig(d, "properties.online") == false {
			offlineErr++
		}
	}
	if lowWarn != 4 || offlineErr != 5 {
		t.Errorf("low battery warnings %d, offline with device_disconnected %d; want 4, 5", lowWarn, offlineErr)
	}
	added := list(e.ok("events/list", map[string]any{"since": "2000-01-01", "event_type": "device.added", "limit": 1000}), "events")
	if len(added) != 50 {
		t.Errorf("%d device.added events, want 50", len(added))
	}
}
