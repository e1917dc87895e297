package discovery

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/internal/etcdtest"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

const inventory = "/inventory/production"

func etcdClient(t *testing.T, endpoints []string, user, password string) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Username: user, Password: password, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func etcdEnv(endpoints []string, maxRemove string) Environment {
	a, _ := ParseAmount(maxRemove)
	return Environment{Name: "production", DefaultPort: 22, Discovery: &Config{MaxRemove: &a, Etcd: &EtcdConfig{Endpoints: endpoints, Prefix: inventory}}}
}

func TestEtcdRegisteredServerAppearsAndLeavesWhenItsLeaseExpires(t *testing.T) {
	cl := etcdtest.Start(t, 1)
	client := etcdClient(t, cl.Endpoints(), "", "")
	ctx := context.Background()
	m := startManager(t, Options{})
	update(t, m, etcdEnv(cl.Endpoints(), "100%"))
	waitView(t, m, "production", 10*time.Second, "an empty prefix read", func(v View) bool { return len(v.Sources) == 1 && v.Sources[0].Answered })

	// web-1 keeps its lease alive; web-2 registers as a boot script
	// would, and then its server dies: nothing renews its lease.
	reg, err := Register(ctx, client, inventory, Server{Name: "web-1", Address: "10.0.0.1:22", Groups: []string{"web"}}, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	lease, err := client.Grant(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Put(ctx, inventory+"/web-2", `{"name": "web-2", "address": "10.0.0.2", "labels": {"release": "v1.4.2"}}`, clientv3.WithLease(lease.ID)); err != nil {
		t.Fatal(err)
	}
	v := waitView(t, m, "production", 10*time.Second, "both registered servers", hasNames("web-1,web-2"))
	if s := v.Servers[1]; s.Labels["release"] != "v1.4.2" || s.Origin != "etcd "+inventory+"/web-2" || s.Source != KindEtcd {
		t.Errorf("web-2 is %+v", s)
	}
	v = waitView(t, m, "production", 15*time.Second, "web-2 gone with its lease", hasNames("web-1"))
	// The wait is longer than the TTL: web-1's lease was kept alive.
	if err := reg.Close(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-reg.Lost():
	default:
		t.Error("Lost is not closed after Close")
	}
	waitView(t, m, "production", 10*time.Second, "web-1 gone after Close", hasNames(""))
}

func TestEtcdBadRegistrationsAreRejectedAtTheirKey(t *testing.T) {
	cl := etcdtest.Start(t, 1)
	client := etcdClient(t, cl.Endpoints(), "", "")
	ctx := context.Background()
	for k, v := range map[string]string{
		"/web-1":     `{"name": "web-1"}`,
		"/web-3":     `{"name": "web-4"}`,
		"/web-5":     `{"name": "web-5", "adress": "x"}`,
		"/a/web-6":   `{"name": "web-6"}`,
		"/web-7":     `not json`,
		"-elsewhere": `{"name": "web-8"}`, // /inventory/production-elsewhere: not under the prefix
	} {
		if _, err := client.Put(ctx, inventory+k, v); err != nil {
			t.Fatal(err)
		}
	}
	m := startManager(t, Options{})
	update(t, m, etcdEnv(cl.Endpoints(), ""))
	v := waitView(t, m, "production", 10*time.Second, "web-1 and four rejections", func(v View) bool { return len(v.Rejected) == 4 })
	if names(v) != "web-1" {
		t.Errorf("servers %s, want web-1", names(v))
	}
	want := []string{
		"etcd " + inventory + "/a/web-6: a key below a sub-prefix",
		"etcd " + inventory + `/web-3: the key names server "web-3", the value "web-4"`,
		"etcd " + inventory + `/web-5: unknown field "adress"`,
		"etcd " + inventory + "/web-7: invalid JSON: invalid character",
	}
	for i, w := range want {
		if !strings.HasPrefix(v.Rejected[i].Error(), w) {
			t.Errorf("rejection %d:\n got %s\nwant %s...", i, v.Rejected[i].Error(), w)
		}
	}
}

// TestEtcdSourceWithARoleRestrictedToThePrefix sets up etcd's
// authentication as docs/discovery.md says: a reader role for gitfleet and
// a writer role for the servers, both limited to the prefix.
func TestEtcdSourceWithARoleRestrictedToThePrefix(t *testing.T) {
	cl := etcdtest.Start(t, 1)
	ctx := context.Background()
	root := etcdClient(t, cl.Endpoints(), "", "")
	if _, err := root.Put(ctx, "/gitfleet/owners/production", "fencing token"); err != nil {
		t.Fatal(err)
	}
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	end := clientv3.GetPrefixRangeEnd(inventory + "/")
	must(root.UserAdd(ctx, "root", "rootpw"))
	must(root.UserGrantRole(ctx, "root", "root"))
	must(root.RoleAdd(ctx, "inventory-production-read"))
	must(root.RoleGrantPermission(ctx, "inventory-production-read", inventory+"/", end, clientv3.PermissionType(clientv3.PermRead)))
	must(root.UserAdd(ctx, "gitfleet-inventory", "readerpw"))
	must(root.UserGrantRole(ctx, "gitfleet-inventory", "inventory-production-read"))
	must(root.RoleAdd(ctx, "inventory-production-write"))
	must(root.RoleGrantPermission(ctx, "inventory-production-write", inventory+"/", end, clientv3.PermissionType(clientv3.PermReadWrite)))
	must(root.UserAdd(ctx, "fleet-server", "serverpw"))
	must(root.UserGrantRole(ctx, "fleet-server", "inventory-production-write"))
	must(root.AuthEnable(ctx))

	server := etcdClient(t, cl.Endpoints(), "fleet-server", "serverpw")
	if _, err := Register(ctx, server, inventory, Server{Name: "web-1", Address: "10.0.0.1"}, 5*time.Second); err != nil {
		t.Fatalf("a server registers with the writer role: %v", err)
	}
	if _, err := server.Put(ctx, "/gitfleet/owners/production", "forged"); err == nil {
		t.Error("the servers' role may write outside the prefix")
	}
	pw := filepath.Join(t.TempDir(), "password")
	os.WriteFile(pw, []byte("readerpw\n"), 0o600)
	env := etcdEnv(cl.Endpoints(), "")
	env.Discovery.Etcd.Username, env.Discovery.Etcd.PasswordFile = "gitfleet-inventory", pw
	m := startManager(t, Options{})
	update(t, m, env)
	waitView(t, m, "production", 10*time.Second, "web-1 read with the reader role", hasNames("web-1"))
	reader := etcdClient(t, cl.Endpoints(), "gitfleet-inventory", "readerpw")
	if _, err := reader.Get(ctx, "/gitfleet/owners/production"); err == nil {
		t.Error("the reader role may read outside the prefix")
	}

	os.WriteFile(pw, []byte("wrong\n"), 0o600)
	env.Discovery.Etcd.Timeout = 2 * time.Second // a changed source, same list until it answers
	update(t, m, env)
	v := waitView(t, m, "production", 10*time.Second, "the refused login reported", func(v View) bool { return v.Sources[0].Err != "" })
	if names(v) != "web-1" || !strings.Contains(v.Sources[0].Err, "authentication failed") {
		t.Errorf("with a wrong password: %s; want web-1 kept and the reason", describe(v))
	}
}

func TestEtcdSourceReportsADeadEtcdAndKeepsItsList(t *testing.T) {
	cl := etcdtest.Start(t, 1)
	client := etcdClient(t, cl.Endpoints(), "", "")
	if _, err := client.Put(context.Background(), inventory+"/web-1", `{"name": "web-1"}`); err != nil {
		t.Fatal(err)
	}
	c := Config{Etcd: &EtcdConfig{Endpoints: cl.Endpoints(), Prefix: inventory, Timeout: 500 * time.Millisecond}}.WithDefaults()
	src := &etcdSource{cfg: *c.Etcd, env: sourceEnv{maxServers: 10}, probe: 200 * time.Millisecond}
	var mu sync.Mutex
	var results []result
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		src.run(ctx, func(r result) {
			mu.Lock()
			results = append(results, r)
			mu.Unlock()
		})
	}()
	defer func() { cancel(); <-done }()
	wait := func(what string, ok func(r result) bool) {
		t.Helper()
		for i := 0; i < 200; i++ {
			mu.Lock()
			found := len(results) > 0 && ok(results[len(results)-1])
			mu.Unlock()
			if found {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("no %s after 10s: %v", what, results)
	}
	wait("list", func(r result) bool { return r.err == nil && len(r.answer.servers) == 1 })
	cl.Members[0].Kill()
	wait("error", func(r result) bool { return r.err != nil })
	if err := cl.Members[0].Restart(); err != nil {
		t.Fatal(err)
	}
	wait("list after the restart", func(r result) bool { return r.err == nil && len(r.answer.servers) == 1 })
}
