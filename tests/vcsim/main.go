// vcsim for snaptree's tests: govmomi's vSphere simulator with the inventory counts as flags,
// optionally a snapshot chain on some VMs (for the inventory benchmark).
//
// Built with Debian's packaged govmomi (no module download):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o vcsim tests/vcsim/main.go
//
// On start it prints one line per fact on stdout, then serves until killed:
//
//	url=https://user:pass@127.0.0.1:PORT/sdk
//	thumbprint=SHA256:<hex of the certificate's SHA-256>
//	ready
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"flag"
	"fmt"
	"log"
	"math/big"
	"net"
	"net/url"
	"os"
	"os/signal"
	"sort"
	"syscall"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/view"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on (port 0 picks a free one)")
	username := flag.String("username", "user", "login user name")
	password := flag.String("password", "pass", "login password")
	dc := flag.Int("dc", 1, "datacenters")
	folder := flag.Int("folder", 0, "datacenters placed inside a folder")
	cluster := flag.Int("cluster", 1, "clusters per datacenter")
	host := flag.Int("host", 3, "hosts per cluster")
	standalone := flag.Int("standalone-host", 1, "standalone hosts per datacenter")
	pool := flag.Int("pool", 0, "child resource pools per cluster")
	vm := flag.Int("vm", 2, "virtual machines per resource pool")
	snapVMs := flag.Int("snapshot-vms", 0, "give this many VMs a snapshot chain")
	snapDepth := flag.Int("snapshot-depth", 3, "length of that chain")
	idle := flag.Duration("session-idle-timeout", 0, "expire sessions idle this long (0: never)")
	trace := flag.String("trace", "", "write every SOAP request and response to this file (benchmarks count the calls)")
	certKind := flag.String("cert", "self-signed", "the certificate served: self-signed (ECDSA, its own CA), "+
		"rsa1024 (self-signed, 1024-bit RSA, as stock vcsim builds have), signed (a leaf for 127.0.0.1 signed by a CA), "+
		"expired (signed, expired yesterday), wrong-host (signed, for vcenter.example.com only), "+
		"weak-key (signed, with a 1024-bit RSA key)")
	flag.Parse()

	simulator.SessionIdleTimeout = *idle
	if *trace != "" {
		f, err := os.Create(*trace)
		if err != nil {
			log.Fatal(err)
		}
		defer f.Close()
		simulator.TraceFile = f
	}
	model := simulator.VPX()
	model.Datacenter = *dc
	model.Folder = *folder
	model.Cluster = *cluster
	model.ClusterHost = *host
	model.Host = *standalone
	model.Pool = *pool
	model.Machine = *vm
	if err := model.Create(); err != nil {
		log.Fatal(err)
	}
	defer model.Remove()

	model.Service.Listen = &url.URL{Host: *listen, User: url.UserPassword(*username, *password)}
	cert, caPEM, err := certificate(*certKind)
	if err != nil {
		log.Fatal(err)
	}
	caFile, err := os.CreateTemp("", "vcsim-ca-*.pem")
	if err != nil {
		log.Fatal(err)
	}
	defer os.Remove(caFile.Name())
	if _, err := caFile.Write(caPEM); err != nil {
		log.Fatal(err)
	}
	caFile.Close()
	model.Service.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	server := model.Service.NewServer()
	defer server.Close()

	if *snapVMs > 0 {
		if err := snapshotChains(server.URL, *snapVMs, *snapDepth); err != nil {
			log.Fatal(err)
		}
	}

	sum := sha256.Sum256(server.Certificate().Raw)
	fmt.Printf("url=%s\n", server.URL.String())
	fmt.Printf("thumbprint=SHA256:%s\n", hex.EncodeToString(sum[:]))
	fmt.Printf("cafile=%s\n", caFile.Name())
	// Only the clients' calls are traced, not the setup's above.
	simulator.Trace = *trace != ""
	fmt.Println("ready")

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
}

// certificate makes the served certificate of a kind, and the PEM of the CA that signed it
// (for a self-signed certificate, the certificate itself).
func certificate(kind string) (tls.Certificate, []byte, error) {
	now := time.Now()
	leaf := x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano()),
		Subject:      pkix.Name{CommonName: "vcsim"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
		DNSNames:     []string{"localhost"},
	}
	switch kind {
	case "self-signed", "rsa1024":
		// Its own CA, as vcsim's built-in certificate is.
		leaf.IsCA = true
		leaf.BasicConstraintsValid = true
		leaf.KeyUsage |= x509.KeyUsageCertSign
		key, pub, err := newKey(kind == "rsa1024")
		if err != nil {
			return tls.Certificate{}, nil, err
		}
		der, err := x509.CreateCertificate(rand.Reader, &leaf, &leaf, pub, key)
		if err != nil {
			return tls.Certificate{}, nil, err
		}
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pemOf(der), nil
	case "signed", "expired", "wrong-host", "weak-key":
	default:
		return tls.Certificate{}, nil, fmt.Errorf("unknown -cert %q", kind)
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	ca := x509.Certificate{
		SerialNumber:          big.NewInt(now.UnixNano() + 1),
		Subject:               pkix.Name{CommonName: "vcsim test CA"},
		NotBefore:             now.Add(-48 * time.Hour),
		NotAfter:              now.Add(48 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, &ca, &ca, &caKey.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	switch kind {
	case "expired":
		leaf.NotBefore = now.Add(-47 * time.Hour)
		leaf.NotAfter = now.Add(-24 * time.Hour)
	case "wrong-host":
		leaf.IPAddresses = nil
		leaf.DNSNames = []string{"vcenter.example.com"}
	}
	key, pub, err := newKey(kind == "weak-key")
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, &leaf, caCert, pub, caKey)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	return tls.Certificate{Certificate: [][]byte{der, caDER}, PrivateKey: key}, pemOf(caDER), nil
}

// newKey makes a 1024-bit RSA key (weak, as stock vcsim's) or an ECDSA P-256 one, and its
// public half.
func newKey(weak bool) (interface{}, interface{}, error) {
	if weak {
		k, err := rsa.GenerateKey(rand.Reader, 1024)
		if err != nil {
			return nil, nil, err
		}
		return k, &k.PublicKey, nil
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	return k, &k.PublicKey, nil
}

func pemOf(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// snapshotChains gives the first `count` VMs a chain of `depth` snapshots, through the API so the
// simulator's own bookkeeping (layoutEx, currentSnapshot) stays consistent.
func snapshotChains(u *url.URL, count, depth int) error {
	ctx := context.Background()
	c, err := govmomi.NewClient(ctx, u, true)
	if err != nil {
		return err
	}
	defer c.Logout(ctx)
	m := view.NewManager(c.Client)
	v, err := m.CreateContainerView(ctx, c.ServiceContent.RootFolder, []string{"VirtualMachine"}, true)
	if err != nil {
		return err
	}
	defer v.Destroy(ctx)
	refs, err := v.Find(ctx, []string{"VirtualMachine"}, nil)
	if err != nil {
		return err
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].Value < refs[j].Value })
	for i, ref := range refs {
		if i >= count {
			break
		}
		vm := object.NewVirtualMachine(c.Client, ref)
		for level := 1; level <= depth; level++ {
			task, err := vm.CreateSnapshot(ctx, fmt.Sprintf("level-%d", level), "benchmark chain", false, false)
			if err != nil {
				return err
			}
			if err := task.Wait(ctx); err != nil {
				return err
			}
		}
	}
	// vCenter keeps each VM's `rootSnapshot` (the roots of its snapshot trees); vcsim
	// leaves it empty. The chains made here are given theirs, as vCenter would (snapshots
	// taken later keep vcsim's empty list).
	for _, e := range simulator.Map.All("VirtualMachine") {
		vm, ok := e.(*simulator.VirtualMachine)
		if !ok || vm.Snapshot == nil {
			continue
		}
		vm.RootSnapshot = nil
		for _, root := range vm.Snapshot.RootSnapshotList {
			vm.RootSnapshot = append(vm.RootSnapshot, root.Snapshot)
		}
	}
	return nil
}
